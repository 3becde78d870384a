"""One turn at a time per conversation: an in-process lock per thread_id, dropped once nobody holds or awaits it."""

import asyncio
import contextlib
from collections.abc import AsyncIterator


class ThreadLocks:
    """LangGraph does not lock a thread: two turns started together read the same checkpoint and the later write
    drops the other's messages. Turns on one thread queue here; turns on different threads never wait for each
    other. Only this process is covered, so replicas sharing a checkpointer need sticky sessions per thread."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        """Threads with a turn running or waiting (the table never holds more)."""
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(thread_id, (asyncio.Lock(), 0))
        self._locks[thread_id] = (lock, users + 1)
        try:
            async with lock:  # released on cancellation and on error alike
                yield
        finally:
            lock, users = self._locks[thread_id]
            if users == 1:
                del self._locks[thread_id]
            else:
                self._locks[thread_id] = (lock, users - 1)
