"""A preemptive turn (started before the user's turn is confirmed) streams like any turn but keeps nothing — no
checkpoint, no observer's record, no `final` — until it is confirmed; discarded, it leaves no trace."""

from pathlib import Path

import anyio
import pytest

from council.auth import LOCAL
from council.errors import NotFoundError
from council.llm import ModelRegistry
from council.orchestrator import FinalEvent, open_orchestrator
from council.orchestrator.events import Event, SynthesisDeltaEvent
from council.orchestrator.preemption import Confirmation
from tests.orchestrator.conftest import ask, orchestrator_settings, thread_of
from tests.orchestrator.test_observers import RecordingObserver

pytestmark = pytest.mark.anyio


async def test_a_discarded_preemptive_turn_streams_its_answer_but_keeps_nothing(
    models: ModelRegistry, tmp_path: Path
) -> None:
    observer = RecordingObserver()
    async with open_orchestrator(orchestrator_settings(tmp_path), models=models, observers=[observer]) as orchestrator:
        opening = await ask(orchestrator, "/fast Hello")
        preempted = thread_of(opening)
        confirmation = Confirmation()
        events: list[Event] = []
        with anyio.fail_after(60):
            admitted = await orchestrator.admit("/fast Say hi", caller=LOCAL, thread_id=preempted)
            stream = orchestrator.turn(admitted, confirmation=confirmation)
            async for event in stream:
                events.append(event)
                if isinstance(event, SynthesisDeltaEvent):
                    confirmation.discard()  # the user went on speaking: the answer is void
        assert any(isinstance(event, SynthesisDeltaEvent) for event in events)
        assert not any(isinstance(event, FinalEvent) for event in events)
        assert observer.seen == [(opening.answer, "Hello")]
        assert len(await orchestrator.threads.messages(preempted, caller=LOCAL)) == 2
        # The thread is free and clean: the next turn on it follows the opening turn alone.
        final = await ask(orchestrator, "/fast Say hi", preempted)
        remembered = await orchestrator.threads.messages(preempted, caller=LOCAL)
    assert [message.content for message in remembered] == ["/fast Hello", opening.answer, "/fast Say hi", final.answer]


async def test_a_confirmed_preemptive_turn_is_remembered_once_confirmed_and_not_before(
    models: ModelRegistry, tmp_path: Path
) -> None:
    observer = RecordingObserver()
    async with open_orchestrator(orchestrator_settings(tmp_path), models=models, observers=[observer]) as orchestrator:
        confirmation = Confirmation()
        finals: list[FinalEvent] = []

        admitted = await orchestrator.admit("/fast Say hi", caller=LOCAL)
        early = admitted.thread_id
        assert early is not None

        async def run() -> None:
            stream = orchestrator.turn(admitted, confirmation=confirmation)
            finals.extend([event async for event in stream if isinstance(event, FinalEvent)])

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(run)
                # The answer is written (the model's 8 tokens take well under this) and still nothing is kept.
                await anyio.sleep(3)
                assert finals == []
                assert observer.seen == []
                with pytest.raises(NotFoundError):
                    await orchestrator.threads.messages(early, caller=LOCAL)
                confirmation.confirm()
        (final,) = finals
        remembered = await orchestrator.threads.messages(early, caller=LOCAL)
    assert observer.seen == [(final.answer, "Say hi")]
    assert [message.content for message in remembered] == ["/fast Say hi", final.answer]
