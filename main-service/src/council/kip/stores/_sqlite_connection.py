"""SQLite's dialect (text times and JSON), its write transaction, and its connection as the store's `SqlConnection`."""

import json
import sqlite3
from collections.abc import Callable, Coroutine, Sequence
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

from council.kip.stores._sql_rows import Dialect, Row


def stamp(moment: datetime) -> str:
    # One fixed-width UTC format, so text order is time order in SQL comparisons. Naive times are taken as UTC.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


SQLITE = Dialect(
    mark="?",
    equals_folded="{column} = ? COLLATE NOCASE",
    row_lock="",
    load_json=json.loads,
    dump_json=json.dumps,
    load_time=datetime.fromisoformat,
    dump_time=stamp,
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


class SqliteConnection:
    """sqlite3's blocking connection behind the async `SqlConnection`: each method runs its statement at once and
    never suspends, so `run_to_end` can drive a whole unit of work on the store's one thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, statement: str, params: Sequence[object] = ()) -> int:
        with closing(self._conn.execute(statement, params)) as cursor:
            return cursor.rowcount

    async def executemany(self, statement: str, rows: Sequence[Sequence[object]]) -> None:
        self._conn.executemany(statement, rows)

    async def fetchone(self, statement: str, params: Sequence[object] = ()) -> Row | None:
        # Closed at once: a statement left unfinished (an INSERT … RETURNING read for one row) would keep COMMIT out.
        with closing(self._conn.execute(statement, params)) as cursor:
            row: sqlite3.Row | None = cursor.fetchone()
            return row

    async def fetchall(self, statement: str, params: Sequence[object] = ()) -> list[Row]:
        return list(self._conn.execute(statement, params).fetchall())


def run_to_end[T](work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that awaits only a `SqliteConnection` to its end, here on this thread: it never suspends, so
    one step finishes it, and no other coroutine's statement can come between two of its statements."""
    try:
        work.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    work.close()
    raise RuntimeError("A SQLite unit of work awaited something other than its connection.")
