"""The per-thread turn lock shared by replicas: a PostgreSQL advisory lock, held in an open transaction for the turn.

Transaction-scoped (`pg_advisory_xact_lock`), so it can never outlive its turn: it is released when the turn's
transaction ends, when the pool rolls back a connection handed back mid-transaction (a cancelled turn), and by the
server when the connection drops (a replica killed mid-turn).

Only a turn that holds the lock holds a connection. A waiting turn holds none, so waiters (however many, whoever sent
them) cannot take the pool from other threads' turns: turns of this replica wait in-process first (one asyncio lock
per thread, as with SQLite memory), and the one at the head tries the database lock without blocking
(`pg_try_advisory_xact_lock`), handing its connection back between tries, with a growing, jittered pause (so replicas
polling one thread do not try in step). LISTEN/NOTIFY would wake waiters sooner but needs a listening connection per
replica and a NOTIFY on every release, including the server's own release of a dead session, which never sends one.
"""

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

import structlog
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from council.errors import CouncilError, ErrorCode
from council.orchestrator.thread_locks import ThreadBusyError, ThreadLocks, Waiting, not_counted
from council.settings import MemorySettings

log = structlog.get_logger(__name__)

LOCK_NAMESPACE = "council.turn:"
"""Prefixed to the thread ID before hashing it to the lock's 64-bit key (other users of the database differ)."""
FIRST_RETRY_S = 0.02
"""The pause after a first failed try; it doubles up to `LAST_RETRY_S` (a turn lasts seconds: a held thread's waiter
is seldom more than that late)."""
LAST_RETRY_S = 0.5


class TurnLockCapacityError(CouncilError):
    """Every lock connection of this replica is held by a running turn."""

    status_code = 503
    code = ErrorCode.TOO_MANY_TURNS


class PostgresThreadLocks:
    """A running turn holds one pooled connection; the lock itself lives in the database, so a turn on another
    replica waits for it exactly like one on this replica."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]], wait_s: float) -> None:
        self._pool = pool
        self._wait_s = wait_s
        self._local = ThreadLocks(wait_s)

    def __len__(self) -> int:
        return len(self._local)

    @contextlib.asynccontextmanager
    async def hold(self, thread_id: str, waiting: Waiting = not_counted) -> AsyncIterator[None]:
        deadline = asyncio.get_running_loop().time() + self._wait_s
        async with self._local.hold(thread_id, waiting), self._locked(thread_id, deadline, waiting):
            yield

    @contextlib.asynccontextmanager
    async def _locked(self, thread_id: str, deadline: float, waiting: Waiting) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        pause, counted = FIRST_RETRY_S, False
        with contextlib.ExitStack() as wait:
            while True:
                async with contextlib.AsyncExitStack() as stack:
                    conn = await self._connection(stack, max(0.001, deadline - loop.time()))
                    # Runs before the connection goes back to the pool, which rolls back (or discards) one left
                    # mid-transaction.
                    stack.push_async_callback(self._release, conn)
                    await conn.execute("BEGIN")
                    cursor = await conn.execute(
                        "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", (LOCK_NAMESPACE + thread_id,)
                    )
                    row = await cursor.fetchone()
                    if row is not None and row[0]:
                        wait.close()  # no longer waiting
                        yield
                        return
                if loop.time() >= deadline:
                    raise ThreadBusyError(thread_id, self._wait_s)
                if not counted:  # the first miss: from now on this turn waits
                    wait.enter_context(waiting())
                    counted = True
                await asyncio.sleep(min(pause * random.uniform(0.5, 1.5), max(0.0, deadline - loop.time())))  # noqa: S311  # jitter, not secrecy
                pause = min(pause * 2, LAST_RETRY_S)

    async def _connection(self, stack: contextlib.AsyncExitStack, timeout_s: float) -> AsyncConnection[Any]:
        try:
            return await stack.enter_async_context(self._pool.connection(timeout=timeout_s))
        except PoolTimeout as error:
            raise TurnLockCapacityError(
                f"All {self._pool.max_size} turn-lock connections of this replica are held by running turns;"
                " retry shortly, or raise COUNCIL_MEMORY__LOCK_POOL_SIZE.",
                headers={"Retry-After": "1"},
            ) from error

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
