"""Turn observers (Pheromind deposit, KIP decision record, metrics) run after the answer exists: one failing is
logged with the request ID and neither fails the turn nor keeps it out of memory."""

from collections.abc import Sequence
from pathlib import Path

import pytest
import structlog
from structlog.testing import LogCapture

from council.auth import ADMIN, LOCAL, Caller
from council.errors import NotFoundError
from council.llm import ModelRegistry
from council.observability.correlation import _request_id
from council.orchestrator import graph as graph_module
from council.orchestrator import open_orchestrator, smart_router
from council.turns import TurnOutcome
from tests.orchestrator.conftest import ask, orchestrator_settings, thread_of

pytestmark = pytest.mark.anyio


class BrokenObserver:
    """Stands for a store that refuses the write after the council ran (full disk, a bad field, Redis OOM)."""

    async def turn_completed(self, final: TurnOutcome, message: str) -> None:
        raise RuntimeError("the store refused the write")


class RecordingObserver:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def turn_completed(self, final: TurnOutcome, message: str) -> None:
        self.seen.append((final.answer, message))


async def test_a_failing_observer_is_logged_and_the_turn_is_answered_and_remembered(
    models: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The graph's own logger, pointed at a capture (the process-wide structlog config may cache loggers).
    logs = LogCapture()
    monkeypatch.setattr(graph_module, "log", structlog.wrap_logger(None, processors=[logs]))
    recorder = RecordingObserver()
    token = _request_id.set("req-observer-1")
    try:
        async with open_orchestrator(
            orchestrator_settings(tmp_path), models=models, observers=[BrokenObserver(), recorder]
        ) as orchestrator:
            final = await ask(orchestrator, "/fast Say hi")
            remembered = await orchestrator.threads.messages(thread_of(final), caller=LOCAL)
    finally:
        _request_id.reset(token)

    assert final.answer
    assert recorder.seen == [(final.answer, "Say hi")], "the observers after the failing one still ran"
    assert [(m.role, m.content) for m in remembered] == [("user", "/fast Say hi"), ("assistant", final.answer)]
    (entry,) = [entry for entry in logs.entries if entry["event"] == "turn_observer_failed"]
    assert entry["log_level"] == "error"
    assert entry["request_id"] == "req-observer-1"
    assert entry["observer"] == "BrokenObserver"
    assert entry["thread_id"] == final.thread_id
    assert entry["exc_info"] is True


class RecordingForgetter:
    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.forgotten: list[tuple[str, str, list[str]]] = []

    async def forget_thread(self, thread_id: str, *, owner: str, questions: Sequence[str]) -> None:
        self.forgotten.append((thread_id, owner, list(questions)))
        if self.fail:
            raise RuntimeError("the store refused the delete")


async def test_a_deleted_threads_forgetters_get_what_its_turns_asked_and_a_failing_one_keeps_the_thread(
    models: ModelRegistry, tmp_path: Path
) -> None:
    observer, forgetter, broken = RecordingObserver(), RecordingForgetter(), RecordingForgetter(fail=True)
    alice = Caller("alice", admin=False)
    async with open_orchestrator(
        orchestrator_settings(tmp_path), models=models, observers=[observer], forgetters=[forgetter, broken]
    ) as orchestrator:
        doomed = thread_of(await ask(orchestrator, "/fast Say hi", caller=alice))
        await ask(orchestrator, "And again?", doomed, caller=alice)
        with pytest.raises(RuntimeError):
            await orchestrator.threads.forget(doomed, caller=ADMIN)
        kept = await orchestrator.threads.messages(doomed, caller=alice)  # so the delete can be retried
        orchestrator.threads.forgetters = [forgetter]
        await orchestrator.threads.forget(doomed, caller=ADMIN)
        with pytest.raises(NotFoundError):
            await orchestrator.threads.messages(doomed, caller=alice)

    assert len(kept) == 4
    # What the observers (Pheromind's deposits) were told each turn asked is what the forgetters withdraw.
    asked = [message for _, message in observer.seen]
    assert asked == ["Say hi", "And again?"]
    assert forgetter.forgotten == [(doomed, "alice", asked)] * 2


async def test_forgetting_a_thread_hands_over_what_its_turns_asked_as_stored_without_routing_again(
    models: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: `forget` ran the router again on every user message to rebuild what each turn asked.
    forgetter = RecordingForgetter()
    async with open_orchestrator(
        orchestrator_settings(tmp_path), models=models, forgetters=[forgetter]
    ) as orchestrator:
        thread = thread_of(await ask(orchestrator, "/fast Say hi", caller=ADMIN))
        await ask(orchestrator, "/fast And again?", thread, caller=ADMIN)

        def no_routing(*args: object, **kwargs: object) -> None:
            raise AssertionError("forget routed a message again")

        monkeypatch.setattr(smart_router, "decide", no_routing)
        await orchestrator.threads.forget(thread, caller=ADMIN)

    assert forgetter.forgotten == [(thread, ADMIN.name, ["Say hi", "And again?"])]
