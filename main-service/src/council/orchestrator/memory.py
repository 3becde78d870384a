"""Conversation memory: the LangGraph checkpointer chosen by settings, and the conversations it holds."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiosqlite
from langchain_core.messages import AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, Checkpoint
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from council.auth import LOCAL
from council.health import Check, HealthStatus
from council.orchestrator.events import Ballot, MemberAnswer, ModelCall, RankedAnswer, Ranking
from council.orchestrator.memory_faults import PostgresConversations, SqliteConversations
from council.settings import MemorySettings

SQLITE_FILE = "conversations.sqlite"
READINESS_TIMEOUT_S = 5.0  # a pool waiting for a server that is gone would otherwise hold the probe for 30 s
OWNER_KEY = "owner"
"""Where a thread's owner is kept: in its state (`TurnState.owner`) and in every checkpoint's metadata."""


def serializer() -> JsonPlusSerializer:
    """Checkpoints hold our own state types; name them so loading never falls back to arbitrary imports."""
    allowed = [(kind.__module__, kind.__name__) for kind in (MemberAnswer, ModelCall, Ranking, RankedAnswer, Ballot)]
    return JsonPlusSerializer(allowed_msgpack_modules=allowed)


@contextlib.asynccontextmanager
async def open_checkpointer(settings: MemorySettings) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """SQLite in `data_dir` (embedded) or PostgreSQL through a connection pool (replicas share it)."""
    if settings.backend == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(settings.data_dir / SQLITE_FILE) as connection:
            sqlite_saver = SqliteConversations(connection, serde=serializer())
            await sqlite_saver.setup()
            yield sqlite_saver
        return
    if settings.postgres_url is None:
        raise ValueError("COUNCIL_MEMORY__POSTGRES_URL must be set when COUNCIL_MEMORY__BACKEND=postgres.")
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.postgres_url.get_secret_value(),
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        # A connection is checked as it is handed out, so one the server dropped (a restart, a failover) is replaced
        # instead of failing the next turn.
        check=AsyncConnectionPool.check_connection,
        open=False,
    )
    await pool.open(wait=True, timeout=10)
    try:
        saver = PostgresConversations(pool, serde=serializer())
        await saver.setup()
        yield saver
    finally:
        await pool.close()


async def memory_check(saver: BaseCheckpointSaver[Any]) -> Check:
    """Whether conversations can be read and written now: one round trip to the checkpointer's database, or, since a
    write found no room, a write (a turn cannot be remembered, nor a thread continued, without it: critical)."""
    backend = "postgres" if isinstance(saver, AsyncPostgresSaver) else "sqlite"
    observed = {"backend": backend}
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_S):
            if isinstance(saver, SqliteConversations | PostgresConversations) and saver.write_fault is not None:
                await saver.probe_write()  # succeeds, and clears the fault, once there is room again
            elif isinstance(saver, AsyncPostgresSaver) and isinstance(saver.conn, AsyncConnectionPool):
                async with saver.conn.connection() as connection:
                    await connection.execute("SELECT 1")
            elif isinstance(saver, AsyncSqliteSaver):
                async with saver.conn.execute("SELECT 1") as cursor:
                    await cursor.fetchone()
    except Exception as error:  # any failure to answer is "not ready"; the reason goes to the probe
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return Check("memory", HealthStatus.FAIL, reason, component_type="datastore", observed=observed)
    return Check("memory", HealthStatus.PASS, component_type="datastore", observed=observed)


class ConversationSummary(BaseModel):
    thread_id: str
    title: str
    """The first user message, shortened."""
    turns: int
    updated_at: datetime


class ConversationMessage(BaseModel):
    role: str
    content: str
    path: str | None = None
    """For assistant messages: the path that produced the answer (fast, council, kip)."""


def as_conversation(messages: list[AnyMessage]) -> list[ConversationMessage]:
    roles = {"human": "user", "ai": "assistant"}
    return [
        ConversationMessage(
            role=roles.get(message.type, message.type),
            content=message.text,
            path=message.name if message.type == "ai" else None,
        )
        for message in messages
    ]


# One page of threads, newest first: each thread's latest checkpoint id (ids are time-ordered) and the owner its
# checkpoints' metadata names. A thread whose checkpoints name none was written before owners were listed there;
# its latest checkpoint says whose it is, so it is a candidate for every owner and read to decide.
_SQLITE_PAGE = """
SELECT thread_id, MAX(checkpoint_id) AS latest, MAX(json_extract(CAST(metadata AS TEXT), '$.owner')) AS listed_owner
FROM checkpoints
WHERE checkpoint_ns = '' GROUP BY thread_id
HAVING ? IS NULL OR MAX(json_extract(CAST(metadata AS TEXT), '$.owner')) IS NULL
    OR MAX(json_extract(CAST(metadata AS TEXT), '$.owner')) = ?
ORDER BY latest DESC LIMIT ? OFFSET ?
"""
_POSTGRES_PAGE = """
SELECT thread_id, MAX(checkpoint_id) AS latest, MAX(metadata->>'owner') AS listed_owner FROM checkpoints
WHERE checkpoint_ns = '' GROUP BY thread_id
HAVING %(owner)s::text IS NULL OR MAX(metadata->>'owner') IS NULL OR MAX(metadata->>'owner') = %(owner)s
ORDER BY latest DESC LIMIT %(limit)s OFFSET %(offset)s
"""


async def _threads_page(
    saver: BaseCheckpointSaver[Any], owner: str | None, limit: int, offset: int
) -> list[tuple[str, str, str | None]]:
    """(thread_id, latest checkpoint id, listed owner) of one page of candidate threads, from the store's own SQL."""
    if isinstance(saver, AsyncSqliteSaver):
        async with saver.lock, saver.conn.execute(_SQLITE_PAGE, (owner, owner, limit, offset)) as cursor:
            return [(str(row[0]), str(row[1]), row[2]) for row in await cursor.fetchall()]
    if isinstance(saver, AsyncPostgresSaver) and isinstance(saver.conn, AsyncConnectionPool):
        async with saver.conn.connection() as conn:  # rows are dicts: open_checkpointer's row factory
            found = await conn.execute(_POSTGRES_PAGE, {"owner": owner, "limit": limit, "offset": offset})
            return [(str(row["thread_id"]), str(row["latest"]), row["listed_owner"]) for row in await found.fetchall()]
    raise TypeError(f"Listing conversations needs the SQLite or PostgreSQL checkpointer, not {type(saver).__name__}.")


def _summary(thread_id: str, checkpoint: Checkpoint) -> ConversationSummary | None:
    messages: list[AnyMessage] | None = checkpoint["channel_values"].get("messages")
    if messages is None:
        return None
    asked = [message.text for message in messages if message.type == "human"]
    return ConversationSummary(
        thread_id=thread_id,
        title=(asked[0][:77] + "...") if asked and len(asked[0]) > 80 else (asked[0] if asked else ""),
        turns=len(asked),
        updated_at=datetime.fromisoformat(checkpoint["ts"]),
    )


async def list_conversations(
    saver: BaseCheckpointSaver[Any], limit: int, *, owner: str | None
) -> list[ConversationSummary]:
    """The most recently updated conversations of `owner` (None: everyone's), newest first. The store pages the
    threads; only the latest checkpoint of each listed thread is read. Threads kept before owners were recorded
    belong to the local user."""
    found: list[ConversationSummary] = []
    offset = 0
    while len(found) < limit:
        wanted = limit - len(found)
        page = await _threads_page(saver, owner, wanted, offset)
        offset += len(page)
        for thread_id, checkpoint_id, listed_owner in page:
            config = RunnableConfig(
                configurable={"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": checkpoint_id}
            )
            item = await saver.aget_tuple(config)
            if item is None:  # deleted since the page was read
                continue
            values = item.checkpoint["channel_values"]
            if owner is not None and listed_owner is None and values.get(OWNER_KEY, LOCAL.name) != owner:
                continue
            summary = _summary(thread_id, item.checkpoint)
            if summary is not None:
                found.append(summary)
        if len(page) < wanted:  # the store holds no more
            break
    return found
