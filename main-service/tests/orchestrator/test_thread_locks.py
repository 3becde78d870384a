"""Turns on one thread run one at a time; turns on other threads don't wait; a cancelled or failed turn lets go."""

import asyncio
import contextlib
from pathlib import Path

import pytest

from council.auth import LOCAL
from council.errors import CouncilError
from council.llm import ModelRegistry
from council.llm.embedded import EmbeddedChatModel
from council.orchestrator import Orchestrator, open_orchestrator
from council.orchestrator.events import SynthesisDeltaEvent
from tests.llm.scripted import ScriptedChatModel
from tests.orchestrator.conftest import orchestrator_settings

pytestmark = pytest.mark.anyio


async def new_thread(orchestrator: Orchestrator) -> str:
    """A thread of the local user's, started by a first turn (the server mints its ID)."""
    final = await orchestrator.answer(await orchestrator.admit("/fast hi", caller=LOCAL))
    assert final.thread_id is not None
    return final.thread_id


async def test_a_turn_waits_for_its_threads_lock_but_not_for_other_threads(orchestrator: Orchestrator) -> None:
    busy, free = await new_thread(orchestrator), await new_thread(orchestrator)
    async with orchestrator.thread_locks.hold(busy):
        waiting = asyncio.create_task(
            orchestrator.answer(await orchestrator.admit("/fast hi", thread_id=busy, caller=LOCAL))
        )
        other = await asyncio.wait_for(
            orchestrator.answer(await orchestrator.admit("/fast hi", thread_id=free, caller=LOCAL)), timeout=60
        )
        assert other.answer
        assert not waiting.done(), "the turn on the busy thread waits for the turn holding it"
        assert len(orchestrator.thread_locks) == 1
    assert (await asyncio.wait_for(waiting, timeout=60)).answer
    assert len(orchestrator.thread_locks) == 0


async def test_a_cancelled_turn_releases_its_thread(models: ModelRegistry, tmp_path: Path) -> None:
    (pool,) = models.pools
    long_fast = EmbeddedChatModel(model_name="smollm2", pool=pool, max_tokens=2000)
    registry = ModelRegistry({**{role: models.get(role) for role in models.roles}, "fast": long_fast})
    async with open_orchestrator(orchestrator_settings(tmp_path), models=registry) as orchestrator:
        admitted = await orchestrator.admit("/fast Write a long story.", caller=LOCAL)
        assert admitted.thread_id is not None
        async with contextlib.aclosing(orchestrator.stream(admitted)) as events:
            async for event in events:
                if isinstance(event, SynthesisDeltaEvent):
                    break

        async with asyncio.timeout(30):
            async with orchestrator.thread_locks.hold(admitted.thread_id):
                pass
        assert len(orchestrator.thread_locks) == 0


async def test_a_failed_turn_releases_its_thread(models: ModelRegistry, tmp_path: Path) -> None:
    failing = ScriptedChatModel(model_name="broken", fail_after=0)
    registry = ModelRegistry({**{role: models.get(role) for role in models.roles}, "fast": failing})
    async with open_orchestrator(orchestrator_settings(tmp_path), models=registry) as orchestrator:
        admitted = await orchestrator.admit("/fast hi", caller=LOCAL)
        assert admitted.thread_id is not None
        with pytest.raises(CouncilError):
            await orchestrator.answer(admitted)

        assert len(orchestrator.thread_locks) == 0
        async with asyncio.timeout(5):
            async with orchestrator.thread_locks.hold(admitted.thread_id):
                pass
