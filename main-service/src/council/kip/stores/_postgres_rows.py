"""PostgreSQL's dialect (native times, jsonb), its connection setup and the reads its writes share (connections
return rows as dicts)."""

import json
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.abc import Buffer
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb, set_json_dumps
from psycopg.types.string import StrDumperUnknown

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

Connection = AsyncConnection[DictRow]


def _as_read(value: Any) -> Any:
    return value


def _as_given(value: datetime) -> datetime:
    return value


# psycopg reads jsonb and timestamptz as Python values already; JSON is written through Jsonb.
POSTGRES = Dialect(
    mark="%s",
    equals_folded="lower({column}) = lower(?)",
    load_json=_as_read,
    dump_json=Jsonb,
    load_time=_as_read,
    dump_time=_as_given,
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


async def fetch_one(conn: Connection, query: str, params: tuple[Any, ...] = ()) -> DictRow | None:
    cursor = await conn.execute(query, params)
    return await cursor.fetchone()


async def fetch_all(conn: Connection, query: str, params: tuple[Any, ...] = ()) -> list[DictRow]:
    cursor = await conn.execute(query, params)
    return await cursor.fetchall()


async def load_agent(conn: Connection, agent_id: str) -> Agent:
    row = await fetch_one(conn, AGENT_SELECT + " WHERE a.id = %s", (agent_id,))
    if row is None:
        raise unknown_agent(agent_id)
    return agent_from_row(row, POSTGRES)


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
        legs[row["seq"]].append(leg_from_row(row))
    rows = await fetch_all(conn, "SELECT * FROM transactions WHERE seq = ANY(%s) ORDER BY seq", (seqs,))
    return [transaction_from_row(row, legs[row["seq"]], POSTGRES) for row in rows]


async def insert_knowledge(conn: Connection, item: KnowledgeItem) -> None:
    if item.agent_id is not None:
        await load_agent(conn, item.agent_id)
    await conn.execute(*knowledge_insert(item, POSTGRES))


async def load_tool_call(
    conn: Connection, where: Literal["id", "idempotency_key"], value: str
) -> StartedToolCall | None:
    """The call whose `where` column ("id" or "idempotency_key") is `value`, with its charge, as a replay."""
    row = await fetch_one(conn, f"SELECT * FROM tool_calls WHERE {where} = %s", (value,))  # noqa: S608  # fixed names
    if row is None:
        return None
    record = tool_call_from_row(row, POSTGRES)
    transaction = None
    if record.transaction_id is not None:
        found = await fetch_one(conn, "SELECT seq FROM transactions WHERE id = %s", (record.transaction_id,))
        assert found is not None
        [transaction] = await load_transactions(conn, [found["seq"]])
    return StartedToolCall(record=record, transaction=transaction, replayed=True)
