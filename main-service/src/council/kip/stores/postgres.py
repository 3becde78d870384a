"""The shared KIP store: PostgreSQL through a psycopg connection pool, safe under many writers on many replicas.

Every write is one READ COMMITTED transaction. The database enforces the invariants (CHECK balance >= 0, UNIQUE
idempotency keys, gapless ledger positions); the row locks below only order concurrent writers so that the store
answers with the right error before a constraint would refuse the write:
- a posting with an idempotency key first takes a transaction-scoped advisory lock on the key, so a concurrent
  retry waits and then replays the committed original instead of failing on the UNIQUE key;
- the accounts it touches are locked FOR UPDATE in id order (no deadlocks), so balance and daily-cap checks read
  what no other writer can change before this commit;
- its ledger position comes from the one `ledger_head` row, updated last, so positions follow commit order.
The queries are the SQL store's (_sql_store.py); here are the pool, the transactions and the ledger's positions.
The schema lives in its own PostgreSQL schema (`kip` by default), migrated on open (_postgres_schema.py).
"""

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from council.kip.errors import StorageFullError
from council.kip.ledger import Posting, Transaction
from council.kip.stores._postgres_connection import POSTGRES, Connection, PostgresConnection, configure_connection
from council.kip.stores._postgres_ledger import append, lock_key
from council.kip.stores._postgres_schema import migrate
from council.kip.stores._sql_connection import SqlConnection
from council.kip.stores._sql_store import SqlKipStore, Work
from council.kip.stores.base import utc_now


class PostgresKipStore(SqlKipStore):
    backend = "postgres"
    dialect = POSTGRES
    name_conflict = errors.UniqueViolation
    integrity_error = errors.IntegrityError

    def __init__(
        self,
        url: str,
        *,
        schema: str = "kip",
        pool_size: int = 10,
        connect_timeout_s: float = 10.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._url = url
        self.schema = schema
        self._pool_size = pool_size
        self._connect_timeout_s = connect_timeout_s
        self.clock = clock
        self._pool: AsyncConnectionPool[Connection] | None = None

    # ---- plumbing ----------------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        pool = AsyncConnectionPool(
            self._url,
            connection_class=AsyncConnection[dict[str, Any]],
            min_size=1,
            max_size=self._pool_size,
            kwargs={
                "autocommit": True,  # transactions are explicit (`_write`, `_read`)
                "row_factory": dict_row,
                "options": f"-c search_path={self.schema} -c timezone=UTC",  # schema name is validated by settings
            },
            configure=configure_connection,
            check=AsyncConnectionPool.check_connection,  # after a database restart, hand out no dead connection
            timeout=self._connect_timeout_s,  # a request (or readiness probe) waits this long for a connection
            open=False,
        )
        await pool.open(wait=True, timeout=self._connect_timeout_s)
        try:
            async with pool.connection() as conn:
                await migrate(conn, self.schema)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @contextlib.asynccontextmanager
    async def _transaction(self, *, read_only: bool) -> AsyncIterator[SqlConnection]:
        if self._pool is None:
            raise RuntimeError("The KIP store is not open.")
        async with self._pool.connection() as conn, conn.transaction():
            if read_only:  # one snapshot for every statement of a read
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield PostgresConnection(conn)

    async def _read[T](self, work: Work[T]) -> T:
        async with self._transaction(read_only=True) as conn:
            return await work(conn)

    async def _write[T](self, work: Work[T]) -> T:
        """Run `work` as one write transaction, keeping `write_fault` current (set by a full disk, cleared after)."""
        try:
            async with self._transaction(read_only=False) as conn:
                result = await work(conn)
        except errors.DiskFull as error:
            self.write_fault = f"The KIP database has no room for a write ({error}): free disk space on its server."
            raise StorageFullError(self.write_fault) from error
        self.write_fault = None
        return result

    async def ping(self) -> None:
        if self.write_fault is None:
            await self._read(lambda conn: conn.execute("SELECT 1"))
            return
        # After a write failed for lack of room, readiness asks whether one fits now: a new version of the ledger
        # head's row (a real WAL write), committed. Success clears the fault.
        await self._write(lambda conn: conn.execute("UPDATE ledger_head SET last_seq = last_seq"))

    # ---- ledger ------------------------------------------------------------------------------------------
    async def _lock_key(self, conn: SqlConnection, key: str) -> None:
        await lock_key(conn, key, schema=self.schema)

    async def _append(
        self, conn: SqlConnection, posting: Posting, fingerprint: str, request_id: str | None, now: datetime
    ) -> Transaction:
        return await append(conn, posting, fingerprint, request_id, now)
