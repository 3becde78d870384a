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
from tests.orchestrator.conftest import orchestrator_settings
from tests.orchestrator.test_observers import RecordingObserver

pytestmark = pytest.mark.anyio


async def test_a_discarded_preemptive_turn_streams_its_answer_but_keeps_nothing(
    models: ModelRegistry, tmp_path: Path
) -> None:
    observer = RecordingObserver()
    async with open_orchestrator(orchestrator_settings(tmp_path), models=models, observers=[observer]) as orchestrator:
        confirmation = Confirmation()
        events: list[Event] = []
        with anyio.fail_after(60):
            stream = orchestrator.turn("/fast Say hi", thread_id="preempted", caller=LOCAL, confirmation=confirmation)
            async for event in stream:
                events.append(event)
                if isinstance(event, SynthesisDeltaEvent):
                    confirmation.discard()  # the user went on speaking: the answer is void
        assert any(isinstance(event, SynthesisDeltaEvent) for event in events)
        assert not any(isinstance(event, FinalEvent) for event in events)
        assert observer.seen == []
        with pytest.raises(NotFoundError):
            await orchestrator.conversation("preempted", caller=LOCAL)
        # The thread is free and clean: the next turn on it starts from nothing.
        final = await orchestrator.answer("/fast Say hi", thread_id="preempted", caller=LOCAL)
        remembered = await orchestrator.conversation("preempted", caller=LOCAL)
    assert [message.content for message in remembered] == ["/fast Say hi", final.answer]


async def test_a_confirmed_preemptive_turn_is_remembered_once_confirmed_and_not_before(
    models: ModelRegistry, tmp_path: Path
) -> None:
    observer = RecordingObserver()
    async with open_orchestrator(orchestrator_settings(tmp_path), models=models, observers=[observer]) as orchestrator:
        confirmation = Confirmation()
        finals: list[FinalEvent] = []

        async def run() -> None:
            stream = orchestrator.turn("/fast Say hi", thread_id="early", caller=LOCAL, confirmation=confirmation)
            finals.extend([event async for event in stream if isinstance(event, FinalEvent)])

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(run)
                # The answer is written (the model's 8 tokens take well under this) and still nothing is kept.
                await anyio.sleep(3)
                assert finals == []
                assert observer.seen == []
                with pytest.raises(NotFoundError):
                    await orchestrator.conversation("early", caller=LOCAL)
                confirmation.confirm()
        (final,) = finals
        remembered = await orchestrator.conversation("early", caller=LOCAL)
    assert observer.seen == [(final.answer, "Say hi")]
    assert [message.content for message in remembered] == ["/fast Say hi", final.answer]
