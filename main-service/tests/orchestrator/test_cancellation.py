"""Cancelling a turn stops the model's decoding promptly and frees its llama.cpp context."""

import asyncio
import contextlib
from pathlib import Path

import anyio
import pytest

from council.auth import LOCAL
from council.llm import ModelRegistry
from council.llm.embedded import EmbeddedChatModel
from council.orchestrator import open_orchestrator
from council.orchestrator.events import SynthesisDeltaEvent
from tests.orchestrator.conftest import orchestrator_settings

pytestmark = pytest.mark.anyio

STORY = "/fast Write a very long story about a dragon who learns to sing, in many chapters."


async def test_closing_the_event_stream_stops_generation(models: ModelRegistry, tmp_path: Path) -> None:
    (pool,) = models.pools
    long_fast = EmbeddedChatModel(model_name="smollm2", pool=pool, max_tokens=2000)
    registry = ModelRegistry({**{role: models.get(role) for role in models.roles}, "fast": long_fast})
    before = len(pool.generations)
    async with open_orchestrator(orchestrator_settings(tmp_path), models=registry) as orchestrator:
        async with contextlib.aclosing(orchestrator.stream(await orchestrator.admit(STORY, caller=LOCAL))) as events:
            async for event in events:
                if isinstance(event, SynthesisDeltaEvent):
                    break

        assert await anyio.to_thread.run_sync(pool.wait_idle, 30.0)
    generation = pool.generations[-1]
    assert len(pool.generations) == before + 1
    assert generation.cancelled
    assert generation.output_tokens < 2000


async def test_cancelling_the_task_running_a_turn_stops_generation(models: ModelRegistry, tmp_path: Path) -> None:
    (pool,) = models.pools
    long_fast = EmbeddedChatModel(model_name="smollm2", pool=pool, max_tokens=2000)
    registry = ModelRegistry({**{role: models.get(role) for role in models.roles}, "fast": long_fast})
    first_token = asyncio.Event()

    async with open_orchestrator(orchestrator_settings(tmp_path), models=registry) as orchestrator:

        async def consume() -> None:
            async for event in orchestrator.stream(await orchestrator.admit(STORY, caller=LOCAL)):
                if isinstance(event, SynthesisDeltaEvent):
                    first_token.set()

        task = asyncio.create_task(consume())
        await first_token.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert await anyio.to_thread.run_sync(pool.wait_idle, 30.0)
    assert pool.generations[-1].cancelled
