"""Effects after commit: what a turn feeds (KIP's decisions, Pheromind's trails and cached answers, metrics) is fed
only once the conversation keeps the turn, so a turn whose checkpoint cannot be written leaves none of it behind."""

import sqlite3
from pathlib import Path

import anyio
import pytest
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.runtime import ExecutionInfo

from council.auth import LOCAL
from council.kip.decisions import DecisionRecorder
from council.kip.knowledge import KnowledgeQuery
from council.kip.stores.sqlite import SqliteKipStore
from council.llm import ModelRegistry
from council.observability.metrics import Metrics, TurnMetrics
from council.orchestrator import open_orchestrator
from council.orchestrator.checkpoints import TurnCheckpoints
from council.pheromind import Pheromind
from council.pheromind.stores.memory import MemoryPheromoneStore
from council.settings import PheromindSettings
from council.turns import TurnOutcome
from tests.orchestrator.conftest import orchestrator_settings

pytestmark = pytest.mark.anyio


# What holds the turn's answer (the `remember` step's writes and checkpoint: the first with an assistant message in a
# new thread) is refused by the database itself, as a disk that just filled up would, after every earlier step of the
# turn was written.
REFUSE_THE_ANSWERS_WRITES = """
CREATE TRIGGER refuse_answer BEFORE INSERT ON checkpoints WHEN instr(NEW.checkpoint, CAST('AIMessage' AS BLOB)) > 0
BEGIN SELECT RAISE(ABORT, 'the checkpoint write was refused'); END;
CREATE TRIGGER refuse_answer_writes BEFORE INSERT ON writes WHEN instr(NEW.value, CAST('AIMessage' AS BLOB)) > 0
BEGIN SELECT RAISE(ABORT, 'the checkpoint write was refused'); END;
"""


async def test_a_turn_whose_checkpoint_write_fails_leaves_no_decision_trail_cached_answer_or_metric(
    models: ModelRegistry, tmp_path: Path
) -> None:
    kip_store = SqliteKipStore(tmp_path / "kip.sqlite3", durability="normal")
    await kip_store.open()
    pheromind = Pheromind(MemoryPheromoneStore(half_life_s=60.0), PheromindSettings(ttl_s=600.0))
    metrics = Metrics()
    observers = (TurnMetrics(metrics), DecisionRecorder(kip_store))
    question = "Name one colour"

    def council_turns_timed() -> float:
        return metrics.registry.get_sample_value("council_turn_duration_seconds_count", {"path": "council"}) or 0.0

    try:
        async with open_orchestrator(
            orchestrator_settings(tmp_path), models=models, observers=observers, trails=pheromind, cache=pheromind
        ) as orchestrator:
            saver = orchestrator.checkpointer
            assert isinstance(saver, AsyncSqliteSaver)
            await saver.conn.executescript(REFUSE_THE_ANSWERS_WRITES)
            unremembered = await orchestrator.admit(f"/council {question}", caller=LOCAL)
            with anyio.fail_after(120), pytest.raises(sqlite3.DatabaseError, match="refused"):
                await orchestrator.answer(unremembered)

            assert unremembered.thread_id is not None
            kept = await orchestrator.threads.messages(unremembered.thread_id, LOCAL)  # the earlier steps' question
            assert [message.role for message in kept] == ["user"]
            assert await kip_store.search_knowledge(KnowledgeQuery()) == []
            assert await pheromind.trails() == []
            assert await pheromind.cached_answer(question, scope=LOCAL.name) is None
            assert council_turns_timed() == 0

            # The same turn once the write succeeds: every one of them records it (so the above could have failed).
            await saver.conn.executescript("DROP TRIGGER refuse_answer; DROP TRIGGER refuse_answer_writes")
            with anyio.fail_after(120):
                final = await orchestrator.answer(await orchestrator.admit(f"/council {question}", caller=LOCAL))
        assert len(await kip_store.search_knowledge(KnowledgeQuery())) == 1
        assert await pheromind.trails() != []
        cached = await pheromind.cached_answer(question, scope=LOCAL.name)
        assert cached is not None
        assert cached.answer == final.answer
        assert council_turns_timed() == 1
    finally:
        await kip_store.close()


async def test_what_a_turn_left_due_and_never_wrote_is_void_once_it_ends(models: ModelRegistry, tmp_path: Path) -> None:
    # A turn cancelled after `remember` and before its answer's checkpoint was written leaves its effects due, keyed
    # by the checkpoint it started from; the thread's next turn writes its first checkpoint as that one's child. An
    # observer leaves such an entry here (its step "started" from the checkpoint just written, the next turn's parent):
    # before, the next turn ran it, publishing a turn that was never remembered.
    published: list[str] = []

    async def stale() -> None:
        published.append("the cancelled turn's effects")

    class LeavesEffectsDue:
        async def turn_completed(self, final: TurnOutcome, message: str) -> None:
            assert final.thread_id is not None
            latest = await orchestrator.checkpointer.aget_tuple({"configurable": {"thread_id": final.thread_id}})
            checkpoints = orchestrator._graph.checkpointer  # the conversation graph's wrapper
            assert latest is not None
            assert isinstance(checkpoints, TurnCheckpoints)
            step = ExecutionInfo(checkpoint_id=latest.config["configurable"]["checkpoint_id"], checkpoint_ns="",
                                 task_id="cancelled", thread_id=final.thread_id)  # fmt: skip
            checkpoints.after_commit(step, stale)

    async with open_orchestrator(
        orchestrator_settings(tmp_path), models=models, observers=[LeavesEffectsDue()]
    ) as orchestrator:
        first = await orchestrator.answer(await orchestrator.admit("/fast Say hi", caller=LOCAL))
        with anyio.fail_after(120):
            await orchestrator.answer(await orchestrator.admit("/fast Again", caller=LOCAL, thread_id=first.thread_id))
    assert published == []
