"""Conversation memory: the LangGraph checkpointer chosen by settings, and the conversations it holds."""

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiosqlite
from langchain_core.messages import AnyMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from council.auth import LOCAL
from council.orchestrator.events import MemberAnswer, ModelCall
from council.settings import MemorySettings

SQLITE_FILE = "conversations.sqlite"


def serializer() -> JsonPlusSerializer:
    """Checkpoints hold our own state types; name them so loading never falls back to arbitrary imports."""
    allowed = [(kind.__module__, kind.__name__) for kind in (MemberAnswer, ModelCall)]
    return JsonPlusSerializer(allowed_msgpack_modules=allowed)


@contextlib.asynccontextmanager
async def open_checkpointer(settings: MemorySettings) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """SQLite in `data_dir` (embedded) or PostgreSQL through a connection pool (replicas share it)."""
    if settings.backend == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(settings.data_dir / SQLITE_FILE) as connection:
            sqlite_saver = AsyncSqliteSaver(connection, serde=serializer())
            await sqlite_saver.setup()
            yield sqlite_saver
        return
    if settings.postgres_url is None:
        raise ValueError("COUNCIL_MEMORY__POSTGRES_URL must be set when COUNCIL_MEMORY__BACKEND=postgres.")
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.postgres_url.get_secret_value(),
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=False,
    )
    await pool.open(wait=True, timeout=10)
    try:
        saver = AsyncPostgresSaver(pool, serde=serializer())
        await saver.setup()
        yield saver
    finally:
        await pool.close()


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


async def list_conversations(
    saver: BaseCheckpointSaver[Any], limit: int, *, owner: str | None
) -> list[ConversationSummary]:
    """The most recently updated conversations of `owner` (None: everyone's), newest first (checkpoint ids are
    time-ordered). Threads kept before owners were recorded belong to the local user."""
    latest: dict[str, ConversationSummary] = {}
    seen: set[str] = set()
    async for item in saver.alist(None):
        thread_id = str(item.config["configurable"]["thread_id"])
        values = item.checkpoint["channel_values"]
        if thread_id in seen or values.get("messages") is None:
            continue
        seen.add(thread_id)  # its latest checkpoint decides, whoever it belongs to
        if owner is not None and values.get("owner", LOCAL.name) != owner:
            continue
        messages: list[AnyMessage] = item.checkpoint["channel_values"]["messages"]
        asked = [message.text for message in messages if message.type == "human"]
        latest[thread_id] = ConversationSummary(
            thread_id=thread_id,
            title=(asked[0][:77] + "...") if asked and len(asked[0]) > 80 else (asked[0] if asked else ""),
            turns=len(asked),
            updated_at=datetime.fromisoformat(item.checkpoint["ts"]),
        )
    return sorted(latest.values(), key=lambda summary: summary.updated_at, reverse=True)[:limit]
