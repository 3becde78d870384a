"""Turns on one thread are serialized across replicas by a PostgreSQL lock: a turn on another replica waits, is
refused with 409 after the bounded wait, and gets the thread once the holder finishes or dies."""

import asyncio
import contextlib
import signal
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import psycopg
import pytest

from council.app import create_app
from council.auth import LOCAL
from council.llm import ModelRegistry
from council.orchestrator import open_orchestrator
from council.orchestrator.thread_locks import ThreadBusyError, ThreadLocks
from council.orchestrator.thread_locks_postgres import PostgresThreadLocks, open_postgres_thread_locks
from council.settings import MemorySettings, Settings
from tests.conftest import closed_port
from tests.kip.postgres_db import postgres_url
from tests.lifespan import app_started
from tests.orchestrator.conftest import ask, thread_of

pytestmark = pytest.mark.anyio

SERVICE_ROOT = Path(__file__).resolve().parents[2]

LockFactory = Callable[..., AbstractAsyncContextManager[PostgresThreadLocks]]


@pytest.fixture
def replica_locks() -> LockFactory:
    """Each call opens the lock of one more "replica": its own pool of connections to the shared database."""

    def open_locks(wait_s: float, pool_size: int = 20) -> AbstractAsyncContextManager[PostgresThreadLocks]:
        settings = MemorySettings(
            backend="postgres", postgres_url=postgres_url(), turn_lock_wait_s=wait_s, lock_pool_size=pool_size
        )
        return open_postgres_thread_locks(settings)

    return open_locks


async def advisory_lock_waiters() -> int:
    async with await psycopg.AsyncConnection.connect(postgres_url()) as conn:
        cursor = await conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        row = await cursor.fetchone()
        return int(row[0]) if row else 0


@contextlib.contextmanager
def signalling(event: asyncio.Event) -> Iterator[None]:
    """The `waiting` of a turn whose wait the test awaits: set once the lock found the thread held."""
    event.set()
    yield


async def test_a_turn_on_another_replica_waits_for_the_thread_and_then_takes_it(replica_locks: LockFactory) -> None:
    thread = f"t-{uuid.uuid4().hex}"
    async with replica_locks(60) as first, replica_locks(60) as second:
        order: list[str] = []
        waits = asyncio.Event()

        async def second_turn() -> None:
            async with second.hold(thread, lambda: signalling(waits)):
                order.append("second")

        async with first.hold(thread):
            waiting = asyncio.create_task(second_turn())
            async with asyncio.timeout(30):
                await waits.wait()
            async with second.hold(f"other-{thread}"):  # another thread never waits
                order.append("other")
            assert not waiting.done()
            assert len(second) == 1
            order.append("first")
        await waiting
        assert order == ["other", "first", "second"]
        assert len(first) == len(second) == 0


async def test_waiters_on_a_busy_thread_hold_no_connection_so_other_threads_keep_theirs(
    replica_locks: LockFactory,
) -> None:
    # Before: each waiter held one of its replica's lock connections for the whole wait (up to TURN_LOCK_WAIT_S), so
    # more waiters than the pool on one busy thread made every other thread's turn wait and then get 503.
    busy, other = f"t-{uuid.uuid4().hex}", f"o-{uuid.uuid4().hex}"
    waiting = 0
    everyone_waits = asyncio.Event()

    @contextlib.contextmanager
    def counted() -> Iterator[None]:
        nonlocal waiting
        waiting += 1
        if waiting == 6:
            everyone_waits.set()
        yield

    async def wait_on(locks: PostgresThreadLocks) -> None:
        async with locks.hold(busy, counted):
            pass

    async with replica_locks(30, pool_size=2) as first, replica_locks(30, pool_size=2) as second:
        async with first.hold(busy):
            waiters = [asyncio.create_task(wait_on(locks)) for locks in (first, second) for _ in range(3)]
            async with asyncio.timeout(10):
                await everyone_waits.wait()
            assert await advisory_lock_waiters() == 0, "nobody waits inside the database, holding a connection"
            async with asyncio.timeout(5), first.hold(other), second.hold(f"{other}-2"):
                pass
            assert not any(waiter.done() for waiter in waiters)
        async with asyncio.timeout(30):
            await asyncio.gather(*waiters)  # and each waiter gets the thread once it is free


async def test_a_turn_held_up_past_the_bounded_wait_is_refused_with_409(replica_locks: LockFactory) -> None:
    thread = f"t-{uuid.uuid4().hex}"
    async with replica_locks(60) as first, replica_locks(0.2) as second, first.hold(thread):
        with pytest.raises(ThreadBusyError) as refused:
            async with second.hold(thread):
                pytest.fail("the thread was held by the other replica")
    assert refused.value.status_code == 409
    assert refused.value.headers["Retry-After"] == "1"
    assert "COUNCIL_MEMORY__TURN_LOCK_WAIT_S" in refused.value.message
    async with replica_locks(0.2) as third, third.hold(thread):  # released with the first's turn
        pass


async def test_a_replica_killed_mid_turn_frees_its_thread_for_the_others(replica_locks: LockFactory) -> None:
    thread = f"t-{uuid.uuid4().hex}"
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.orchestrator.lock_holder",
        postgres_url(),
        thread,
        cwd=SERVICE_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await holder.stdout.readline() == b"held\n"
        async with replica_locks(0.2) as survivor:
            with pytest.raises(ThreadBusyError):
                async with survivor.hold(thread):
                    pass
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        async with replica_locks(60) as survivor, survivor.hold(thread):  # the server dropped the dead session's lock
            pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            holder.kill()
        await holder.wait()


async def test_a_cancelled_turn_lets_go_of_the_thread_at_once(replica_locks: LockFactory) -> None:
    thread = f"t-{uuid.uuid4().hex}"
    async with replica_locks(60) as first, replica_locks(0.5) as second:
        entered = asyncio.Event()

        async def turn() -> None:
            async with first.hold(thread):
                entered.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(turn())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with second.hold(thread):
            pass
        assert len(first) == 0


async def test_the_in_process_lock_also_ends_its_wait_with_409() -> None:
    locks = ThreadLocks(wait_s=0.1)
    async with locks.hold("t"):
        with pytest.raises(ThreadBusyError):
            async with locks.hold("t"):
                pytest.fail("the thread was held")
    assert len(locks) == 0


async def test_concurrent_turns_on_one_thread_sent_alternately_to_two_replicas_are_all_remembered(
    models: ModelRegistry, tmp_path: Path
) -> None:
    # Before: each replica locked the thread in its own process only, so turns on the two replicas read the same
    # checkpoint and the later write dropped the other's messages (6 of 12 messages kept in issue 13).
    memory = {"backend": "postgres", "postgres_url": postgres_url(), "data_dir": tmp_path}
    # One client's five turns on one thread: all but one wait, more than the per-client default lets wait.
    settings = Settings(_env_file=None, memory={**memory, "max_waiting_turns_per_client": 5})
    async with (
        open_orchestrator(settings, models=models) as first,
        open_orchestrator(settings, models=models) as second,
    ):
        questions = [f"/fast Remember the number {n}." for n in range(6)]
        opening = await ask(first, questions[0])  # the server mints the thread
        thread = thread_of(opening)
        later = await asyncio.gather(
            *(ask(second if n % 2 else first, q, thread) for n, q in enumerate(questions[1:], start=1))
        )
        answers = [opening, *later]
        messages = [(m.role, m.content) for m in await first.threads.messages(thread, caller=LOCAL)]

    assert len(messages) == 12
    turns = [messages[i : i + 2] for i in range(0, 12, 2)]
    expected = {q: a.answer for q, a in zip(questions, answers, strict=True)}
    assert sorted(turn[0][1] for turn in turns) == sorted(questions), "every question is in the history once"
    assert all(turn == [("user", turn[0][1]), ("assistant", expected[turn[0][1]])] for turn in turns), (
        "each question is followed by its own answer"
    )


async def test_a_chat_turn_on_a_thread_another_replica_holds_is_a_409_in_the_one_error_shape(
    replica_locks: LockFactory, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,
        voice={"base_url": f"http://127.0.0.1:{closed_port()}"},
        memory={"backend": "postgres", "postgres_url": postgres_url(), "data_dir": tmp_path, "turn_lock_wait_s": 0.3},
        kip={"data_dir": tmp_path / "kip"},
        llm={"max_tokens": 8},
    )
    async with app_started(create_app(settings)) as manager, replica_locks(60) as other:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            thread = (await client.post("/api/chat", json={"message": "/fast hi"})).json()["thread_id"]
            async with other.hold(thread):
                response = await client.post("/api/chat", json={"message": "/fast hi", "thread_id": thread})

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert "still running" in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert response.headers["retry-after"] == "1"
