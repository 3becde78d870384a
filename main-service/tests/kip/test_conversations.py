"""What only the SQLite store needs proved about conversations: a database file from before them opens and gains them."""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from council.kip.conversations import ExchangeCreate
from council.kip.knowledge import DecisionCreate, KnowledgeQuery
from council.kip.stores._schema import SCHEMA
from council.kip.stores.sqlite import SqliteKipStore
from tests.kip.support import ManualClock

pytestmark = pytest.mark.anyio

# The schema as released before conversations: everything up to the knowledge table and its topic index.
BEFORE_CONVERSATIONS = SCHEMA.partition("CREATE INDEX IF NOT EXISTS knowledge_source")[0]


async def test_a_database_from_before_conversations_opens_keeps_its_data_and_records_them(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "kip.sqlite3"
    with closing(sqlite3.connect(path, isolation_level=None)) as old:
        old.executescript(BEFORE_CONVERSATIONS)
        old.execute(
            "INSERT INTO knowledge VALUES ('kn_old', 'decision', 'storage', 'SQLite', 't-1', NULL, '{}', ?)",
            ("2025-12-01T00:00:00.000000+00:00",),
        )
        assert "conversations" not in {row[0] for row in old.execute("SELECT name FROM sqlite_master")}

    store = SqliteKipStore(path, durability="normal", clock=clock)
    await store.open()
    try:
        decision = DecisionCreate(question="Again?", outcome="Yes.", answered_share=1.0, topic="storage")
        await store.record_exchange(
            ExchangeCreate(thread_id="t-1", question="Again?", answer="Yes.", decision=decision)
        )
        graph = await store.conversation_graph("t-1")
        assert [d.id for d in graph.decisions][-1] == "kn_old"  # the decision recorded before conversations existed
        assert len(graph.messages) == 2
        assert len(await store.search_knowledge(KnowledgeQuery(source="t-1"))) == 2
    finally:
        await store.close()
    await store.open()  # and a second open of the migrated file changes nothing
    try:
        assert len((await store.conversation_graph("t-1")).messages) == 2
    finally:
        await store.close()


async def test_the_schema_refuses_a_message_outside_a_conversation(tmp_path: Path, clock: ManualClock) -> None:
    store = SqliteKipStore(tmp_path / "kip.sqlite3", durability="normal", clock=clock)
    await store.open()
    await store.close()
    with closing(sqlite3.connect(tmp_path / "kip.sqlite3")) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO messages VALUES ('m', 'nowhere', 0, 'user', 'x', 0, '2026-01-01')")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO conversations VALUES ('t', 't', -1, '2026-01-02', '2026-01-01')")


async def test_a_deleted_conversation_leaves_no_row_in_the_file(tmp_path: Path, clock: ManualClock) -> None:
    store = SqliteKipStore(tmp_path / "kip.sqlite3", durability="normal", clock=clock)
    await store.open()
    try:
        decision = DecisionCreate(question="Mine?", outcome="Yours.", answered_share=1.0, topic="secret")
        await store.record_exchange(
            ExchangeCreate(thread_id="t-1", question="Mine?", answer="Yours.", decision=decision)
        )
        await store.delete_conversation("t-1")
    finally:
        await store.close()
    with closing(sqlite3.connect(tmp_path / "kip.sqlite3")) as conn:
        counts = {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608  # fixed table names
            for table in ("conversations", "messages", "decided", "knowledge")
        }
    assert counts == dict.fromkeys(counts, 0)
