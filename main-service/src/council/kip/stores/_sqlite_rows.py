"""Row mapping and transaction plumbing for the SQLite KIP store."""

import json
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from council.kip.agents import Agent, AgentStatus
from council.kip.calls import StartedToolCall, ToolCallRecord, ToolCallState
from council.kip.conversations import Conversation, Message, MessageRole
from council.kip.errors import UnknownAgentError
from council.kip.knowledge import KnowledgeItem, KnowledgeKind
from council.kip.ledger import Leg, Transaction, TransactionKind

AGENT_SELECT = (
    "SELECT a.id, a.name, a.role, a.capabilities, a.status, a.per_call_cap, a.daily_cap, a.created_at,"
    " a.updated_at, c.balance FROM agents a JOIN accounts c ON c.id = a.id"
)


def stamp(moment: datetime) -> str:
    # One fixed-width UTC format, so text order is time order in SQL comparisons. Naive times are taken as UTC.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def agent_from_row(row: sqlite3.Row) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        capabilities=json.loads(row["capabilities"]),
        status=AgentStatus(row["status"]),
        per_call_cap=row["per_call_cap"],
        daily_cap=row["daily_cap"],
        balance=row["balance"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
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
        raise UnknownAgentError(f"No agent with id {agent_id!r}; list them at GET /api/kip/agents.")
    return agent_from_row(row)


def spent_since(conn: sqlite3.Connection, account: str, since: str) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(l.amount), 0) FROM legs l JOIN transactions t ON t.seq = l.seq"
        " WHERE l.account = ? AND l.side = 'debit' AND t.created_at >= ?",
        (account, since),
    ).fetchone()
    spent: int = row[0]
    return spent


def load_transactions(conn: sqlite3.Connection, seqs: list[int]) -> list[Transaction]:
    if not seqs:
        return []
    marks = ", ".join("?" * len(seqs))
    legs: dict[int, list[Leg]] = {seq: [] for seq in seqs}
    for row in conn.execute(f"SELECT * FROM legs WHERE seq IN ({marks}) ORDER BY seq, side DESC", seqs):  # noqa: S608
        legs[row["seq"]].append(Leg(account=row["account"], side=row["side"], amount=row["amount"]))
    rows = conn.execute(f"SELECT * FROM transactions WHERE seq IN ({marks}) ORDER BY seq", seqs).fetchall()  # noqa: S608
    return [
        Transaction(
            id=row["id"],
            seq=row["seq"],
            kind=TransactionKind(row["kind"]),
            amount=row["amount"],
            source=row["source"],
            target=row["target"],
            reason=row["reason"],
            idempotency_key=row["idempotency_key"],
            request_id=row["request_id"],
            created_at=datetime.fromisoformat(row["created_at"]),
            legs=legs[row["seq"]],
        )
        for row in rows
    ]


def knowledge_from_row(row: sqlite3.Row) -> KnowledgeItem:
    return KnowledgeItem(
        id=row["id"],
        kind=KnowledgeKind(row["kind"]),
        topic=row["topic"],
        content=row["content"],
        source=row["source"],
        agent_id=row["agent_id"],
        data=json.loads(row["data"]),
        created_at=datetime.fromisoformat(row["created_at"]),
    )


def conversation_from_row(row: sqlite3.Row) -> Conversation:
    return Conversation(
        thread_id=row["thread_id"],
        title=row["title"],
        message_count=row["message_count"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def message_from_row(row: sqlite3.Row, decision_ids: list[str]) -> Message:
    return Message(
        id=row["id"],
        thread_id=row["thread_id"],
        position=row["position"],
        role=MessageRole(row["role"]),
        text=row["text"],
        truncated=bool(row["truncated"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        decision_ids=decision_ids,
    )


def insert_knowledge(conn: sqlite3.Connection, item: KnowledgeItem) -> None:
    if item.agent_id is not None:
        load_agent(conn, item.agent_id)
    conn.execute(
        "INSERT INTO knowledge VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            item.id,
            item.kind.value,
            item.topic,
            item.content,
            item.source,
            item.agent_id,
            json.dumps(item.data),
            stamp(item.created_at),
        ),
    )


def tool_call_from_row(row: sqlite3.Row) -> ToolCallRecord:
    return ToolCallRecord(
        id=row["id"],
        agent_id=row["agent_id"],
        tool=row["tool"],
        ok=bool(row["ok"]),
        cost=row["cost"],
        transaction_id=row["transaction_id"],
        created_at=datetime.fromisoformat(row["created_at"]),
        state=ToolCallState(row["state"]),
        idempotency_key=row["idempotency_key"],
        fingerprint=row["fingerprint"],
        output=row["output"],
        data=json.loads(row["data"]),
        balance=row["balance"],
    )


def insert_tool_call(conn: sqlite3.Connection, record: ToolCallRecord) -> None:
    conn.execute(
        "INSERT INTO tool_calls (id, agent_id, tool, ok, cost, transaction_id, created_at, idempotency_key,"
        " fingerprint, state, output, data, balance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.id,
            record.agent_id,
            record.tool,
            int(record.ok),
            record.cost,
            record.transaction_id,
            stamp(record.created_at),
            record.idempotency_key,
            record.fingerprint,
            record.state.value,
            record.output,
            json.dumps(record.data),
            record.balance,
        ),
    )


def load_tool_call(
    conn: sqlite3.Connection, where: Literal["id", "idempotency_key"], value: str
) -> StartedToolCall | None:
    """The call whose `where` column ("id" or "idempotency_key") is `value`, with its charge, as a replay."""
    row = conn.execute(f"SELECT * FROM tool_calls WHERE {where} = ?", (value,)).fetchone()  # noqa: S608  # fixed names
    if row is None:
        return None
    record = tool_call_from_row(row)
    transaction = None
    if record.transaction_id is not None:
        seq = conn.execute("SELECT seq FROM transactions WHERE id = ?", (record.transaction_id,)).fetchone()[0]
        [transaction] = load_transactions(conn, [seq])
    return StartedToolCall(record=record, transaction=transaction, replayed=True)
