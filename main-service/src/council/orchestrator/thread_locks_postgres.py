"""The per-thread turn lock shared by replicas: a PostgreSQL advisory lock, held in an open transaction for the turn.

Transaction-scoped (`pg_advisory_xact_lock`), so it can never outlive its turn: it is released when the turn's
transaction ends, when the pool rolls back a connection handed back mid-transaction (a cancelled turn), and by the
server when the connection drops (a replica killed mid-turn). The wait is bounded by `lock_timeout`.
"""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import structlog
from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from council.errors import CouncilError, ErrorCode
from council.orchestrator.thread_locks import ThreadBusyError
from council.settings import MemorySettings

log = structlog.get_logger(__name__)

LOCK_NAMESPACE = "council.turn:"
"""Prefixed to the thread ID before hashing it to the lock's 64-bit key (other users of the database differ)."""


class TurnLockCapacityError(CouncilError):
    """Every lock connection of this replica is held by a running turn."""

    status_code = 503
    code = ErrorCode.TOO_MANY_TURNS


class PostgresThreadLocks:
    """A turn holds one pooled connection for its duration; the lock itself lives in the database, so a turn on
    another replica waits for it exactly like one on this replica."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]], wait_s: float) -> None:
        self._pool = pool
        self._wait_s = wait_s
        self._users: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._users)

    @contextlib.asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        self._users[thread_id] += 1
        try:
            async with self._locked(thread_id):
                yield
        finally:
            self._users[thread_id] -= 1
            if not self._users[thread_id]:
                del self._users[thread_id]

    @contextlib.asynccontextmanager
    async def _locked(self, thread_id: str) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        async with contextlib.AsyncExitStack() as stack:
            try:
                conn = await stack.enter_async_context(self._pool.connection(timeout=self._wait_s))
            except PoolTimeout as error:
                raise TurnLockCapacityError(
                    f"All {self._pool.max_size} turn-lock connections of this replica are held by running turns;"
                    " retry shortly, or raise COUNCIL_MEMORY__LOCK_POOL_SIZE.",
                    headers={"Retry-After": "1"},
                ) from error
            # Runs before the connection goes back to the pool, which rolls back (or discards) one left mid-transaction.
            stack.push_async_callback(self._release, conn)
            await conn.execute("BEGIN")
            remaining_ms = max(1, int((deadline - loop.time()) * 1000))
            await conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{remaining_ms}ms",))
            try:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (LOCK_NAMESPACE + thread_id,)
                )
            except errors.LockNotAvailable as error:
                raise ThreadBusyError(thread_id, self._wait_s) from error
            yield

    @staticmethod
    async def _release(conn: AsyncConnection[Any]) -> None:
        """End the lock's transaction. A broken connection released the lock on the server already; the turn's own
        outcome stands either way."""
        try:
            await conn.execute("ROLLBACK")
        except Exception as error:  # the lock went with its connection: log, never fail the turn
            log.warning("turn_lock_release_failed", error=f"{type(error).__name__}: {error}")


@contextlib.asynccontextmanager
async def open_postgres_thread_locks(settings: MemorySettings) -> AsyncIterator[PostgresThreadLocks]:
    if settings.postgres_url is None:
        raise ValueError("COUNCIL_MEMORY__POSTGRES_URL must be set when COUNCIL_MEMORY__BACKEND=postgres.")
    pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
        settings.postgres_url.get_secret_value(),
        min_size=1,
        max_size=settings.lock_pool_size,
        kwargs={
            "autocommit": True,  # the lock's transaction is explicit
            # The server probes an idle lock session: a replica cut off without a FIN (a pulled cable, a frozen VM)
            # loses its locks within about 25 s instead of the kernel's default two hours.
            "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
        },
        check=AsyncConnectionPool.check_connection,  # after a database restart, hand out no dead connection
        open=False,
    )
    await pool.open(wait=True, timeout=10)
    try:
        yield PostgresThreadLocks(pool, settings.turn_lock_wait_s)
    finally:
        await pool.close()
