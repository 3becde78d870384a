"""The embedded KIP store: SQLite in WAL mode on one worker thread; every write is one IMMEDIATE transaction.

A write refused for lack of room (SQLITE_FULL: a full disk or a size cap) is a StorageFullError (507) and is
remembered as `write_fault`, which fails readiness until a write, or the write probe readiness then runs, succeeds.
A read refused for lack of room (a sort spilled to a full temporary directory) is a 507 too, never remembered.
The queries are the SQL store's (_sql_store.py); here are the thread, the transactions and the ledger's positions.
"""

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Literal

from council.kip.errors import StorageFullError
from council.kip.ledger import Posting, Transaction
from council.kip.stores._records import new_id
from council.kip.stores._schema import SCHEMA, upgrade
from council.kip.stores._sql_connection import SqlConnection
from council.kip.stores._sql_reads import load_transactions
from council.kip.stores._sql_rows import MOVEMENT_COLUMNS, movement_values
from council.kip.stores._sql_store import SqlKipStore, Work
from council.kip.stores._sqlite_connection import SQLITE, SqliteConnection, run_to_end, stamp, write
from council.kip.stores.base import utc_now

DATABASE_FILE = "kip.sqlite3"


class SqliteKipStore(SqlKipStore):
    backend = "sqlite"
    dialect = SQLITE
    name_conflict = sqlite3.IntegrityError
    integrity_error = sqlite3.IntegrityError

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_s: float = 5.0,
        durability: Literal["full", "normal"] = "full",
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._durability = durability
        self.clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    # ---- plumbing ----------------------------------------------------------------------------------------
    async def _run[T](self, work: Callable[[sqlite3.Connection], T], *, writes: bool = False) -> T:
        if self._executor is None or self._conn is None:
            raise RuntimeError("The KIP store is not open.")
        conn = self._conn
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._tracked, work, conn, writes)

    async def _read[T](self, work: Work[T]) -> T:
        return await self._run(lambda conn: run_to_end(work(SqliteConnection(conn))))

    async def _write[T](self, work: Work[T]) -> T:
        """Run `work` as one write transaction, whose SQLITE_FULL (unlike a read's) is remembered as `write_fault`."""
        return await self._run(lambda conn: write(conn, lambda c: run_to_end(work(SqliteConnection(c)))), writes=True)

    def _tracked[T](self, work: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection, writes: bool) -> T:
        """Run `work`, keeping `write_fault` current: set by a write's SQLITE_FULL, cleared by any write that changed
        rows. A read's SQLITE_FULL (its temporary files found no room) says nothing of whether a write fits."""
        changes = conn.total_changes
        try:
            result = work(conn)
        except sqlite3.Error as error:
            code = getattr(error, "sqlite_errorcode", None) or 0  # absent on errors the sqlite3 module raises itself
            if code & 0xFF != sqlite3.SQLITE_FULL:  # the primary code of an extended one
                raise
            if not writes:
                raise StorageFullError(
                    f"The KIP store has no room for a read's temporary files ({error}): free disk space where"
                    " SQLite keeps them (SQLITE_TMPDIR, else TMPDIR or /tmp)."
                ) from error
            self.write_fault = f"The KIP database is full ({error}): free disk space, or raise the file's size cap."
            raise StorageFullError(self.write_fault) from error
        if conn.total_changes != changes:
            self.write_fault = None
        return result

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._durability.upper()}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(SCHEMA)
        write(conn, upgrade)
        return conn

    async def open(self) -> None:
        if self._executor is not None:
            return
        # One thread owns the connection: statements of concurrent coroutines never interleave mid-transaction.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kip-sqlite")
        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(self._executor, self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        if self._executor is None:
            return
        # Closed to callers first: one arriving while the connection closes is refused ("not open") instead of
        # queued behind the close onto a shut connection. Calls made before run first (one thread, in order).
        executor, conn = self._executor, self._conn
        self._executor, self._conn = None, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)

    async def ping(self) -> None:
        if self.write_fault is None:
            await self._run(lambda conn: conn.execute("SELECT 1").fetchone())
            return

        # After a write failed for lack of room, readiness asks whether one fits now: 64 KiB of new pages (more
        # than any one KIP write), committed and freed again in one transaction. Success clears the fault.
        def probe(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO write_probe (filler) VALUES (zeroblob(65536))")
            conn.execute("DELETE FROM write_probe")

        await self._run(lambda conn: write(conn, probe), writes=True)

    # ---- ledger ------------------------------------------------------------------------------------------
    async def _lock_key(self, conn: SqlConnection, key: str) -> None:
        """Nothing to take: the IMMEDIATE transaction already keeps every other writer out."""

    async def _append(
        self, conn: SqlConnection, posting: Posting, fingerprint: str, request_id: str | None, now: datetime
    ) -> Transaction:
        # The position is the row's AUTOINCREMENT key: one writer at a time commits them in order.
        row = await conn.fetchone(
            f"INSERT INTO transactions (id, {MOVEMENT_COLUMNS}, created_at) VALUES ({SQLITE.marks(10)}) RETURNING seq",  # noqa: S608  # fixed columns
            (new_id("txn"), *movement_values(posting, fingerprint, request_id), stamp(now)),
        )
        assert row is not None  # an INSERT … RETURNING returns its row
        seq = row["seq"]
        for account, side, change in (
            (posting.source, "debit", -posting.amount),
            (posting.target, "credit", posting.amount),
        ):
            if account is not None:
                await conn.execute("INSERT INTO legs VALUES (?, ?, ?, ?)", (seq, account, side, posting.amount))
                await conn.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (change, account))
        return (await load_transactions(conn, [seq], SQLITE))[0]
