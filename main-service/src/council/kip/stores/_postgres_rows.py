"""Row mapping and shared statements for the PostgreSQL KIP store (connections return rows as dicts)."""

import json
import uuid
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.abc import Buffer
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb, set_json_dumps
from psycopg.types.string import StrDumperUnknown

from council.kip.agents import Agent, AgentStatus
from council.kip.calls import StartedToolCall, ToolCallRecord, ToolCallState
from council.kip.conversations import Conversation, Message, MessageRole
from council.kip.errors import UnknownAgentError
from council.kip.knowledge import KnowledgeItem, KnowledgeKind
from council.kip.ledger import Leg, Transaction, TransactionKind

Connection = AsyncConnection[DictRow]

AGENT_SELECT = (
    "SELECT a.id, a.name, a.role, a.capabilities, a.status, a.per_call_cap, a.daily_cap, a.created_at,"
    " a.updated_at, c.balance FROM agents a JOIN accounts c ON c.id = a.id"
)


NUL, REPLACEMENT = "\x00", "\ufffd"


class NulFreeStrDumper(StrDumperUnknown):
    """PostgreSQL text cannot hold NUL (SQLite's can): text from outside (a tool's output quoting a URL, a note)
    keeps every other character and shows each NUL as U+FFFD instead of failing the whole write."""

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace(NUL, REPLACEMENT)) if NUL in obj else super().dump(obj)


def _nul_free(value: object) -> object:
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT)
    if isinstance(value, dict):
        return {_nul_free(key): _nul_free(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_nul_free(item) for item in value]
    return value


async def configure_connection(conn: Connection) -> None:
    """Adapt every pooled connection once: NUL-free text and JSON (jsonb refuses \\u0000 too)."""
    conn.adapters.register_dumper(str, NulFreeStrDumper)
    set_json_dumps(lambda value: json.dumps(_nul_free(value)), conn)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


async def fetch_one(conn: Connection, query: str, params: tuple[Any, ...] = ()) -> DictRow | None:
    cursor = await conn.execute(query, params)
    return await cursor.fetchone()


async def fetch_all(conn: Connection, query: str, params: tuple[Any, ...] = ()) -> list[DictRow]:
    cursor = await conn.execute(query, params)
    return await cursor.fetchall()


def agent_from_row(row: DictRow) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        capabilities=row["capabilities"],
        status=AgentStatus(row["status"]),
        per_call_cap=row["per_call_cap"],
        daily_cap=row["daily_cap"],
        balance=row["balance"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def load_agent(conn: Connection, agent_id: str) -> Agent:
    row = await fetch_one(conn, AGENT_SELECT + " WHERE a.id = %s", (agent_id,))
    if row is None:
        raise UnknownAgentError(f"No agent with id {agent_id!r}; list them at GET /api/kip/agents.")
    return agent_from_row(row)


async def spent_since(conn: Connection, account: str, since: datetime) -> int:
    row = await fetch_one(
        conn,
        "SELECT COALESCE(SUM(l.amount), 0)::bigint AS spent FROM legs l JOIN transactions t ON t.seq = l.seq"
        " WHERE l.account = %s AND l.side = 'debit' AND t.created_at >= %s",
        (account, since),
    )
    assert row is not None
    spent: int = row["spent"]
    return spent


async def load_transactions(conn: Connection, seqs: list[int]) -> list[Transaction]:
    if not seqs:
        return []
    legs: dict[int, list[Leg]] = {seq: [] for seq in seqs}
    for row in await fetch_all(conn, "SELECT * FROM legs WHERE seq = ANY(%s) ORDER BY seq, side DESC", (seqs,)):
        legs[row["seq"]].append(Leg(account=row["account"], side=row["side"], amount=row["amount"]))
    rows = await fetch_all(conn, "SELECT * FROM transactions WHERE seq = ANY(%s) ORDER BY seq", (seqs,))
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
            created_at=row["created_at"],
            legs=legs[row["seq"]],
        )
        for row in rows
    ]


def knowledge_from_row(row: DictRow) -> KnowledgeItem:
    return KnowledgeItem(
        id=row["id"],
        kind=KnowledgeKind(row["kind"]),
        topic=row["topic"],
        content=row["content"],
        source=row["source"],
        agent_id=row["agent_id"],
        data=row["data"],
        created_at=row["created_at"],
    )


def conversation_from_row(row: DictRow) -> Conversation:
    return Conversation(
        thread_id=row["thread_id"],
        title=row["title"],
        message_count=row["message_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def message_from_row(row: DictRow, decision_ids: list[str]) -> Message:
    return Message(
        id=row["id"],
        thread_id=row["thread_id"],
        position=row["position"],
        role=MessageRole(row["role"]),
        text=row["text"],
        truncated=row["truncated"],
        created_at=row["created_at"],
        decision_ids=decision_ids,
    )


async def insert_knowledge(conn: Connection, item: KnowledgeItem) -> None:
    if item.agent_id is not None:
        await load_agent(conn, item.agent_id)
    await conn.execute(
        "INSERT INTO knowledge (id, kind, topic, content, source, agent_id, data, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            item.id,
            item.kind.value,
            item.topic,
            item.content,
            item.source,
            item.agent_id,
            Jsonb(item.data),
            item.created_at,
        ),
    )


def tool_call_from_row(row: DictRow) -> ToolCallRecord:
    return ToolCallRecord(
        id=row["id"],
        agent_id=row["agent_id"],
        tool=row["tool"],
        ok=row["ok"],
        cost=row["cost"],
        transaction_id=row["transaction_id"],
        created_at=row["created_at"],
        state=ToolCallState(row["state"]),
        idempotency_key=row["idempotency_key"],
        fingerprint=row["fingerprint"],
        output=row["output"],
        data=row["data"],
        balance=row["balance"],
    )


async def insert_tool_call(conn: Connection, record: ToolCallRecord) -> None:
    await conn.execute(
        "INSERT INTO tool_calls (id, agent_id, tool, ok, cost, transaction_id, created_at, idempotency_key,"
        " fingerprint, state, output, data, balance) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            record.id,
            record.agent_id,
            record.tool,
            record.ok,
            record.cost,
            record.transaction_id,
            record.created_at,
            record.idempotency_key,
            record.fingerprint,
            record.state.value,
            record.output,
            Jsonb(record.data),
            record.balance,
        ),
    )


async def load_tool_call(
    conn: Connection, where: Literal["id", "idempotency_key"], value: str
) -> StartedToolCall | None:
    """The call whose `where` column ("id" or "idempotency_key") is `value`, with its charge, as a replay."""
    row = await fetch_one(conn, f"SELECT * FROM tool_calls WHERE {where} = %s", (value,))  # noqa: S608  # fixed names
    if row is None:
        return None
    record = tool_call_from_row(row)
    transaction = None
    if record.transaction_id is not None:
        found = await fetch_one(conn, "SELECT seq FROM transactions WHERE id = %s", (record.transaction_id,))
        assert found is not None
        [transaction] = await load_transactions(conn, [found["seq"]])
    return StartedToolCall(record=record, transaction=transaction, replayed=True)
