"""The reads the SQL store's writes share with its queries: an agent, transactions with their legs, a tool call with
its charge, an account's spend since a time."""

from datetime import datetime
from typing import Literal

from council.kip.agents import Agent
from council.kip.calls import StartedToolCall
from council.kip.ledger import Leg, Transaction
from council.kip.stores._records import unknown_agent
from council.kip.stores._sql_connection import SqlConnection
from council.kip.stores._sql_rows import (
    AGENT_SELECT,
    Dialect,
    agent_from_row,
    leg_from_row,
    tool_call_from_row,
    transaction_from_row,
)


async def load_agent(conn: SqlConnection, agent_id: str, dialect: Dialect) -> Agent:
    row = await conn.fetchone(dialect.sql(AGENT_SELECT + " WHERE a.id = ?"), (agent_id,))
    if row is None:
        raise unknown_agent(agent_id)
    return agent_from_row(row, dialect)


async def load_transactions(conn: SqlConnection, seqs: list[int], dialect: Dialect) -> list[Transaction]:
    if not seqs:
        return []
    marks = dialect.marks(len(seqs))
    legs: dict[int, list[Leg]] = {seq: [] for seq in seqs}
    for row in await conn.fetchall(f"SELECT * FROM legs WHERE seq IN ({marks}) ORDER BY seq, side DESC", seqs):  # noqa: S608  # placeholders only
        legs[row["seq"]].append(leg_from_row(row))
    rows = await conn.fetchall(f"SELECT * FROM transactions WHERE seq IN ({marks}) ORDER BY seq", seqs)  # noqa: S608  # placeholders only
    return [transaction_from_row(row, legs[row["seq"]], dialect) for row in rows]


async def load_tool_call(
    conn: SqlConnection, where: Literal["id", "idempotency_key"], value: str, dialect: Dialect
) -> StartedToolCall | None:
    """The call whose `where` column ("id" or "idempotency_key") is `value`, with its charge, as a replay."""
    row = await conn.fetchone(dialect.sql(f"SELECT * FROM tool_calls WHERE {where} = ?"), (value,))  # noqa: S608  # fixed names
    if row is None:
        return None
    record = tool_call_from_row(row, dialect)
    transaction = None
    if record.transaction_id is not None:
        found = await conn.fetchone(dialect.sql("SELECT seq FROM transactions WHERE id = ?"), (record.transaction_id,))
        assert found is not None  # a tool call's charge is never deleted
        [transaction] = await load_transactions(conn, [found["seq"]], dialect)
    return StartedToolCall(record=record, transaction=transaction, replayed=True)


async def spent_since(conn: SqlConnection, account: str, since: datetime, dialect: Dialect) -> int:
    # CAST: PostgreSQL's SUM of BIGINT is NUMERIC, which psycopg reads as a Decimal.
    row = await conn.fetchone(
        dialect.sql(
            "SELECT CAST(COALESCE(SUM(l.amount), 0) AS BIGINT) AS spent FROM legs l JOIN transactions t ON t.seq = l.seq"
            " WHERE l.account = ? AND l.side = 'debit' AND t.created_at >= ?"
        ),
        (account, dialect.dump_time(since)),
    )
    assert row is not None  # an aggregate has one row
    spent: int = row["spent"]
    return spent
