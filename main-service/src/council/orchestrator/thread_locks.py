"""One turn at a time per conversation: the lock interface, the in-process lock, and the choice made at start-up.

LangGraph does not lock a thread: two turns started together read the same checkpoint and the later write drops the
other's messages. Turns on one thread queue on a lock; turns on different threads never wait for each other. A turn
waits a bounded time (COUNCIL_MEMORY__TURN_LOCK_WAIT_S), then is refused with 409 instead of hanging. While it waits
it is counted by the `waiting` it was given (the per-client cap on waiting turns, `fair_share.py`).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Protocol

from council.errors import CouncilError, ErrorCode
from council.settings import MemorySettings


class ThreadBusyError(CouncilError):
    """Another turn (on this replica or another) held the thread for longer than a turn waits."""

    status_code = 409
    code = ErrorCode.CONFLICT

    def __init__(self, thread_id: str, wait_s: float) -> None:
        super().__init__(
            f"Another turn on thread {thread_id!r} is still running after {wait_s:g} s; retry when it has answered "
            "(the wait is COUNCIL_MEMORY__TURN_LOCK_WAIT_S).",
            headers={"Retry-After": str(max(1, round(wait_s)))},
        )


Waiting = Callable[[], AbstractContextManager[None]]
"""Entered for as long as a turn waits for its thread, and only if it must wait; may refuse the wait by raising."""


def not_counted() -> AbstractContextManager[None]:
    """A wait nobody counts (forgetting a thread)."""
    return contextlib.nullcontext()


class ThreadLock(Protocol):
    """What the orchestrator needs of a per-thread turn lock, wherever it lives."""

    def hold(self, thread_id: str, waiting: Waiting = not_counted) -> AbstractAsyncContextManager[None]:
        """Hold the thread until the block ends (however it ends); ThreadBusyError after the bounded wait."""
        ...

    def __len__(self) -> int:
        """Threads this process holds or waits for (the table never holds more)."""
        ...


class ThreadLocks:
    """The embedded default: an asyncio lock per thread_id, dropped once nobody holds or awaits it. It covers this
    process only: replicas sharing a checkpointer need the PostgreSQL lock (thread_locks_postgres.py)."""

    def __init__(self, wait_s: float) -> None:
        self._wait_s = wait_s
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, thread_id: str, waiting: Waiting = not_counted) -> AsyncIterator[None]:
        lock, users = self._locks.get(thread_id, (asyncio.Lock(), 0))
        self._locks[thread_id] = (lock, users + 1)
        try:
            if lock.locked():
                with waiting():
                    await self._acquire(lock, thread_id)
            else:
                await self._acquire(lock, thread_id)
            try:  # released on cancellation and on error alike
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[thread_id]
            if users == 1:
                del self._locks[thread_id]
            else:
                self._locks[thread_id] = (lock, users - 1)

    async def _acquire(self, lock: asyncio.Lock, thread_id: str) -> None:
        try:
            async with asyncio.timeout(self._wait_s):
                await lock.acquire()
        except TimeoutError as error:
            raise ThreadBusyError(thread_id, self._wait_s) from error


@contextlib.asynccontextmanager
async def open_thread_locks(settings: MemorySettings) -> AsyncIterator[ThreadLock]:
    """The lock that matches where conversations live: in-process for SQLite memory, in PostgreSQL when the
    checkpointer is shared there, so that replicas serialize a thread's turns without sticky sessions."""
    if settings.backend != "postgres":
        yield ThreadLocks(settings.turn_lock_wait_s)
        return
    from council.orchestrator.thread_locks_postgres import open_postgres_thread_locks

    async with open_postgres_thread_locks(settings) as locks:
        yield locks
