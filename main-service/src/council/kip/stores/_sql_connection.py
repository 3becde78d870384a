"""The one connection interface the SQL store writes its queries against; SQLite and PostgreSQL each adapt theirs."""

from collections.abc import Sequence
from typing import Protocol

from council.kip.stores._sql_rows import Row


class SqlConnection(Protocol):
    """A connection inside one open transaction of the store, with statements in the store's `Dialect`."""

    async def execute(self, statement: str, params: Sequence[object] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    async def executemany(self, statement: str, rows: Sequence[Sequence[object]]) -> None: ...

    async def fetchone(self, statement: str, params: Sequence[object] = ()) -> Row | None: ...

    async def fetchall(self, statement: str, params: Sequence[object] = ()) -> list[Row]: ...
