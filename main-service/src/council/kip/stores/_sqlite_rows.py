"""SQLite's dialect (text times and JSON), its transaction plumbing and the reads its writes share."""

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from council.kip.agents import Agent
from council.kip.calls import StartedToolCall
from council.kip.knowledge import KnowledgeItem
from council.kip.ledger import Leg, Transaction
from council.kip.stores._records import unknown_agent
from council.kip.stores._sql_rows import (
    AGENT_SELECT,
    Dialect,
    agent_from_row,
    knowledge_insert,
    leg_from_row,
    tool_call_from_row,
    transaction_from_row,
)


def stamp(moment: datetime) -> str:
    # One fixed-width UTC format, so text order is time order in SQL comparisons. Naive times are taken as UTC.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


SQLITE = Dialect(
    mark="?",
    equals_folded="{column} = ? COLLATE NOCASE",
    load_json=json.loads,
    dump_json=json.dumps,
    load_time=datetime.fromisoformat,
    dump_time=stamp,
)


def write[T](conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    # IMMEDIATE takes the write lock up front: reads inside `work` see a state no other writer can change.
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (a deferred constraint, SQLITE_FULL, an I/O error) leaves the transaction open on the one
        # shared connection, refusing every later BEGIN; some errors roll back by themselves, so check first.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def load_agent(conn: sqlite3.Connection, agent_id: str) -> Agent:
    row = conn.execute(AGENT_SELECT + " WHERE a.id = ?", (agent_id,)).fetchone()
    if row is None:
        raise unknown_agent(agent_id)
    return agent_from_row(row, SQLITE)


def spent_since(conn: sqlite3.Connection, account: str, since: datetime) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(l.amount), 0) FROM legs l JOIN transactions t ON t.seq = l.seq"
        " WHERE l.account = ? AND l.side = 'debit' AND t.created_at >= ?",
        (account, stamp(since)),
    ).fetchone()
    spent: int = row[0]
    return spent


def load_transactions(conn: sqlite3.Connection, seqs: list[int]) -> list[Transaction]:
    if not seqs:
        return []
    marks = SQLITE.marks(len(seqs))
    legs: dict[int, list[Leg]] = {seq: [] for seq in seqs}
    for row in conn.execute(f"SELECT * FROM legs WHERE seq IN ({marks}) ORDER BY seq, side DESC", seqs):  # noqa: S608
        legs[row["seq"]].append(leg_from_row(row))
    rows = conn.execute(f"SELECT * FROM transactions WHERE seq IN ({marks}) ORDER BY seq", seqs).fetchall()  # noqa: S608
    return [transaction_from_row(row, legs[row["seq"]], SQLITE) for row in rows]


def insert_knowledge(conn: sqlite3.Connection, item: KnowledgeItem) -> None:
    if item.agent_id is not None:
        load_agent(conn, item.agent_id)
    conn.execute(*knowledge_insert(item, SQLITE))


def load_tool_call(
    conn: sqlite3.Connection, where: Literal["id", "idempotency_key"], value: str
) -> StartedToolCall | None:
    """The call whose `where` column ("id" or "idempotency_key") is `value`, with its charge, as a replay."""
    row = conn.execute(f"SELECT * FROM tool_calls WHERE {where} = ?", (value,)).fetchone()  # noqa: S608  # fixed names
    if row is None:
        return None
    record = tool_call_from_row(row, SQLITE)
    transaction = None
    if record.transaction_id is not None:
        seq = conn.execute("SELECT seq FROM transactions WHERE id = ?", (record.transaction_id,)).fetchone()[0]
        [transaction] = load_transactions(conn, [seq])
    return StartedToolCall(record=record, transaction=transaction, replayed=True)
