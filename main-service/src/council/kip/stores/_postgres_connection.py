"""PostgreSQL's dialect (native times, jsonb), how each pooled connection is set up, and a connection as the store's
`SqlConnection` (rows come back as dicts)."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.abc import Buffer
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb, set_json_dumps
from psycopg.types.string import StrDumperUnknown

from council.kip.stores._sql_rows import Dialect, Row

Connection = AsyncConnection[DictRow]


def _as_read(value: Any) -> Any:
    return value


def _as_given(value: datetime) -> datetime:
    return value


# psycopg reads jsonb and timestamptz as Python values already; JSON is written through Jsonb.
POSTGRES = Dialect(
    mark="%s",
    equals_folded="lower({column}) = lower(?)",
    row_lock=" FOR UPDATE",
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


class PostgresConnection:
    """A pooled connection, inside the store's open transaction, as the `SqlConnection` the queries are written for."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, statement: str, params: Sequence[object] = ()) -> int:
        cursor = await self._conn.execute(statement, params)
        return cursor.rowcount

    async def executemany(self, statement: str, rows: Sequence[Sequence[object]]) -> None:
        async with self._conn.cursor() as cursor:
            await cursor.executemany(statement, rows)

    async def fetchone(self, statement: str, params: Sequence[object] = ()) -> Row | None:
        cursor = await self._conn.execute(statement, params)
        return await cursor.fetchone()

    async def fetchall(self, statement: str, params: Sequence[object] = ()) -> list[Row]:
        cursor = await self._conn.execute(statement, params)
        return list(await cursor.fetchall())
