"""The conversation store with no room left (a full disk, SQLite's size cap, PostgreSQL's `disk_full`): a write it
refuses is a `ConversationsFullError` (507) and is remembered as `write_fault`, which fails readiness until the write
probe readiness then runs fits again (a smaller write that still fits proves nothing for the next turn's checkpoint).
The KIP store answers the same way (`kip/stores/sqlite.py`)."""

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from council.errors import CouncilError, ErrorCode


class ConversationsFullError(CouncilError):
    """The conversation store has no room for a turn's checkpoint or a thread's deletion. 507, not 503: reads (the
    conversations, their listing) still work; this cannot be stored."""

    status_code = 507
    code = ErrorCode.STORAGE_FULL


class _RoomTracked(BaseCheckpointSaver[str]):
    """Every write the graph or a deletion makes, with a refusal for lack of room turned into a 507 and kept as
    `write_fault`. Mixed in before a LangGraph saver, whose writes it wraps (`super()` is that saver)."""

    write_fault: str | None = None
    """Why the last write found no room; None again once the readiness probe's write succeeds."""

    def _no_room(self, error: Exception) -> bool:
        raise NotImplementedError

    async def _after_no_room(self) -> None:
        """Leave the connection as a refused write should (nothing half-done behind it)."""

    async def probe_write(self) -> None:
        """A write to our own table beside LangGraph's (`council_write_probe`), as large as a turn's checkpoint: what
        readiness tries while a fault stands."""
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def _room_checked(self) -> AsyncIterator[None]:
        try:
            yield
        except Exception as error:
            if not self._no_room(error):
                raise
            await self._after_no_room()
            self.write_fault = f"The conversation store has no room for a write ({error}): free disk space."
            raise ConversationsFullError(self.write_fault) from error

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        async with self._room_checked():
            return await super().aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        async with self._room_checked():
            await super().aput_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        async with self._room_checked():
            await super().adelete_thread(thread_id)


class SqliteConversations(_RoomTracked, AsyncSqliteSaver):
    def _no_room(self, error: Exception) -> bool:
        code = getattr(error, "sqlite_errorcode", None) or 0  # absent on errors the sqlite3 module raises itself
        return isinstance(error, sqlite3.Error) and code & 0xFF == sqlite3.SQLITE_FULL  # an extended code's primary

    async def _after_no_room(self) -> None:
        async with self.lock:  # SQLite may keep the refused write's transaction open: end it, for the next writer
            if self.conn.in_transaction:
                await self.conn.rollback()

    async def setup(self) -> None:
        await super().setup()
        async with self.lock:
            await self.conn.execute("CREATE TABLE IF NOT EXISTS council_write_probe (filler BLOB)")
            await self.conn.commit()

    async def probe_write(self) -> None:
        async with self._room_checked(), self.lock:
            # 64 KiB of new pages (more than a short turn's checkpoint), freed again in the same transaction.
            await self.conn.execute("INSERT INTO council_write_probe (filler) VALUES (zeroblob(65536))")
            await self.conn.execute("DELETE FROM council_write_probe")
            await self.conn.commit()
        self.write_fault = None


class PostgresConversations(_RoomTracked, AsyncPostgresSaver):
    def _no_room(self, error: Exception) -> bool:
        return isinstance(error, pg_errors.DiskFull)

    async def _execute(self, query: str) -> None:
        if isinstance(self.conn, AsyncConnectionPool):
            async with self.conn.connection() as connection:
                await connection.execute(query)
        else:
            await self.conn.execute(query)

    async def setup(self) -> None:
        await super().setup()
        await self._execute("CREATE TABLE IF NOT EXISTS council_write_probe (id INT PRIMARY KEY, probed TIMESTAMPTZ)")

    async def probe_write(self) -> None:
        async with self._room_checked():  # a new version of one row: a real write to the table and the WAL
            await self._execute(
                "INSERT INTO council_write_probe VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET probed = now()"
            )
        self.write_fault = None
