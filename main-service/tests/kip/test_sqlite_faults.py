"""Storage faults of the SQLite store, provoked for real: a COMMIT that fails, a database with no room left, a
read with no room for its temporary files."""

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from council.kip.errors import StorageFullError
from council.kip.knowledge import KnowledgeCreate, KnowledgeQuery
from council.kip.stores.sqlite import SqliteKipStore
from tests.kip.support import ManualClock

pytestmark = pytest.mark.anyio

LARGE = "x" * 20_000  # needs new pages (overflow pages of a 4 KiB-page file) wherever it goes
SERVICE_ROOT = Path(__file__).resolve().parents[2]
# A user namespace of its own (mapped to root in it) may mount a tmpfs: a really full filesystem, no privileges.
NAMESPACED = ["unshare", "--user", "--map-root-user", "--mount"]


@pytest.fixture
async def sqlite_store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SqliteKipStore]:
    store = SqliteKipStore(tmp_path / "kip.sqlite3", durability="normal", clock=clock)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def limit_pages(store: SqliteKipStore, pages: int) -> None:
    """Cap the file at `pages` pages (at least its size now) on the store's own connection: past it SQLite answers
    SQLITE_FULL, the same error a full disk gives."""
    await store._run(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))


async def test_a_failed_commit_is_rolled_back_and_the_next_write_succeeds(sqlite_store: SqliteKipStore) -> None:
    # A deferred foreign key is checked at COMMIT only: a trigger that writes a dangling one makes COMMIT itself fail.
    with closing(sqlite3.connect(sqlite_store.path, isolation_level=None)) as other:
        other.executescript(
            """
            CREATE TABLE poison (agent_id TEXT REFERENCES agents (id) DEFERRABLE INITIALLY DEFERRED);
            CREATE TRIGGER poison_on_insert AFTER INSERT ON knowledge WHEN NEW.topic = 'poison'
            BEGIN INSERT INTO poison VALUES ('agt_nobody'); END;
            """
        )

    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await sqlite_store.add_knowledge(KnowledgeCreate(topic="poison", content="fails at commit"))
    kept = await sqlite_store.add_knowledge(KnowledgeCreate(topic="fine", content="the next write"))

    assert [item.id for item in await sqlite_store.search_knowledge(KnowledgeQuery())] == [kept.id]


async def test_a_full_database_refuses_writes_as_storage_full_until_there_is_room(
    sqlite_store: SqliteKipStore,
) -> None:
    await sqlite_store.ping()
    await limit_pages(sqlite_store, 1)

    with pytest.raises(StorageFullError) as refused:
        await sqlite_store.add_knowledge(KnowledgeCreate(topic="big", content=LARGE))
    assert (refused.value.status_code, refused.value.code.value) == (507, "storage_full")
    with pytest.raises(StorageFullError, match="full"):
        await sqlite_store.ping()  # readiness fails while writes cannot be stored
    assert await sqlite_store.search_knowledge(KnowledgeQuery()) == []  # reads still work

    await limit_pages(sqlite_store, 1_000_000)
    await sqlite_store.ping()  # its write probe finds room again
    stored = await sqlite_store.add_knowledge(KnowledgeCreate(topic="big", content=LARGE))
    assert [item.id for item in await sqlite_store.search_knowledge(KnowledgeQuery())] == [stored.id]


def test_a_read_with_no_room_for_its_temporary_files_is_storage_full_but_no_write_fault(tmp_path: Path) -> None:
    # SQLITE_FULL from a read (a sort spilled to a full temporary directory) says nothing of whether a write fits:
    # remembered as a write fault, it would switch readiness to the write probe and report the database full.
    temp_dir = tmp_path / "tiny-tmp"
    temp_dir.mkdir()
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux unshare to mount a tmpfs in a user namespace")
    trial = subprocess.run(
        [*NAMESPACED, "mount", "-t", "tmpfs", "tmpfs", str(temp_dir)], capture_output=True, text=True, check=False
    )
    if trial.returncode != 0:
        pytest.skip(f"no tmpfs in a user namespace here: {trial.stderr.strip()}")

    reader = subprocess.run(
        [*NAMESPACED, sys.executable, "-m", "tests.kip.full_temp_reader", str(tmp_path / "kip.sqlite3"), str(temp_dir)],
        cwd=SERVICE_ROOT,
        env={**os.environ, "SQLITE_TMPDIR": str(temp_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert reader.returncode == 0, reader.stderr
    outcome = json.loads(reader.stdout)
    assert outcome["read"].startswith("StorageFullError:")  # still a 507: there was no room, for the read
    assert outcome["write_fault"] is None


async def test_a_successful_write_clears_the_remembered_fault(sqlite_store: SqliteKipStore) -> None:
    await limit_pages(sqlite_store, 1)
    with pytest.raises(StorageFullError, match="full"):
        await sqlite_store.add_knowledge(KnowledgeCreate(topic="big", content=LARGE))
    await limit_pages(sqlite_store, 1_000_000)

    await sqlite_store.add_knowledge(KnowledgeCreate(topic="big", content=LARGE))

    assert sqlite_store.write_fault is None


async def test_a_call_made_while_the_store_closes_is_refused_not_run_on_the_closed_connection(
    tmp_path: Path, clock: ManualClock
) -> None:
    # Shutdown meets a late caller (a readiness probe, the second write of a tool call): it must get the store's
    # own "not open", never a statement on the connection the close already shut (sqlite3.ProgrammingError).
    store = SqliteKipStore(tmp_path / "kip.sqlite3", durability="normal", clock=clock)
    await store.open()
    closing_store = asyncio.create_task(store.close())
    await asyncio.sleep(0)  # close has handed the connection's close to the store's thread and awaits it

    with pytest.raises(RuntimeError, match="not open"):
        await store.ping()
    with pytest.raises(RuntimeError, match="not open"):
        await store.add_knowledge(KnowledgeCreate(topic="late", content="after close began"))
    await closing_store


async def test_a_call_made_before_close_ends_before_the_connection_closes(tmp_path: Path, clock: ManualClock) -> None:
    store = SqliteKipStore(tmp_path / "kip.sqlite3", durability="normal", clock=clock)
    await store.open()
    write = asyncio.create_task(store.add_knowledge(KnowledgeCreate(topic="kept", content="in flight at close")))
    await asyncio.sleep(0)  # the write is queued on the store's thread

    await store.close()

    stored = await write
    await store.open()
    try:
        assert [item.id for item in await store.search_knowledge(KnowledgeQuery())] == [stored.id]
    finally:
        await store.close()
