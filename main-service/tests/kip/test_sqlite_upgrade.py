"""A SQLite file from before tool-call results opens, keeps its calls, and gains replayable ones."""

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from council.kip.calls import ToolCallStart, ToolOutcome
from council.kip.stores._schema import SCHEMA
from council.kip.stores.sqlite import SqliteKipStore
from tests.kip.support import ManualClock, new_agent

pytestmark = pytest.mark.anyio


async def test_a_database_from_before_tool_call_results_upgrades_in_place(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "kip.sqlite3"
    with closing(sqlite3.connect(path, isolation_level=None)) as old:
        old.executescript(SCHEMA)  # the tables as first released: tool_calls without key, state or result
        assert "output" not in {row[1] for row in old.execute("PRAGMA table_info(tool_calls)")}
    store = SqliteKipStore(path, durability="normal", clock=clock)
    await store.open()
    try:
        agent = await new_agent(store, "alpha")
        await store._run(
            lambda conn: conn.execute(
                "INSERT INTO tool_calls (id, agent_id, tool, ok, cost, transaction_id, created_at)"
                " VALUES ('call_old', ?, 'calculator', 1, 0, NULL, ?)",
                (agent.id, clock().isoformat(timespec="microseconds")),
            )
        )
        start = ToolCallStart(
            agent_id=agent.id, tool="calculator", cost=0, charge=None, idempotency_key="k", fingerprint="f"
        )
        started = await store.start_tool_call(start)
        await store.finish_tool_call(started.record.id, ToolOutcome(ok=True, output="4"))
    finally:
        await store.close()
    await store.open()  # a second open of the upgraded file changes nothing
    try:
        replayed = await store.find_tool_call("k")
        [activity] = await store.activity(clock() - timedelta(hours=1))
    finally:
        await store.close()

    assert replayed is not None
    assert (replayed.record.output, replayed.record.state.value) == ("4", "done")
    assert (activity.calls, activity.successes) == (2, 2)
