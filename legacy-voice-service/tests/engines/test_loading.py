"""The per-engine job queue: bounded, refusing with 429 and Retry-After when full, releasing on exit."""

import anyio
import pytest

from voice.engines.loading import JobQueue
from voice.errors import EngineBusy
from voice.observability.metrics import Metrics


@pytest.mark.anyio
async def test_a_full_queue_refuses_at_once_with_retry_after() -> None:
    queue = JobQueue("piper", concurrency=1, max_queued=1, retry_after=3, metrics=Metrics())
    running = anyio.Event()
    release = anyio.Event()
    finished: list[str] = []

    async def job(name: str) -> None:
        async with queue.slot():
            running.set()
            await release.wait()
            finished.append(name)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(job, "first")
        await running.wait()
        tasks.start_soon(job, "queued")
        await anyio.wait_all_tasks_blocked()
        assert (queue.running, queue.waiting) == (1, 1)
        with pytest.raises(EngineBusy) as refused:
            async with queue.slot():
                pytest.fail("a third job must not get a slot")
        assert refused.value.status_code == 429
        assert refused.value.headers == {"Retry-After": "3"}
        release.set()
    assert finished == ["first", "queued"]
    assert (queue.running, queue.waiting) == (0, 0)


@pytest.mark.anyio
async def test_a_failing_job_gives_its_slot_back() -> None:
    queue = JobQueue("whisper", concurrency=1, max_queued=0, retry_after=1, metrics=Metrics())
    with pytest.raises(ValueError, match="bad"):
        async with queue.slot():
            raise ValueError("bad")
    async with queue.slot():
        assert queue.running == 1
