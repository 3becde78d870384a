"""This test run's own PostgreSQL database on the real server, created on first use and dropped at exit."""

import atexit
import contextlib
import uuid
from collections.abc import Iterator

import psycopg
from psycopg import sql

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
"""The real PostgreSQL server of these machines (trust auth); each test run creates and drops its own database."""

_postgres_url: str | None = None


def postgres_url() -> str:
    """URL of this test run's own database, created on first use and dropped (with any session left) at exit."""
    global _postgres_url
    if _postgres_url is None:
        name = f"council_test_{uuid.uuid4().hex[:12]}"
        try:
            with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.OperationalError as error:
            raise RuntimeError(f"PostgreSQL is not reachable at {POSTGRES_SERVER}: {error}") from error
        atexit.register(_drop_database, name)
        _postgres_url = f"{POSTGRES_SERVER}/{name}"
    return _postgres_url


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """URL of a database of the block's own (a test that takes it down or fills it harms no other), dropped after."""
    name = f"council_scratch_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        _drop_database(name)


def _drop_database(name: str) -> None:
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
