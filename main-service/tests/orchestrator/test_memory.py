"""Conversation memory: turns kept per thread by the SQLite and PostgreSQL checkpointers; history trimmed to fit."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from council.auth import LOCAL, Caller
from council.errors import NotFoundError
from council.health import HealthStatus
from council.llm import ModelRegistry
from council.orchestrator import Orchestrator, open_orchestrator
from council.orchestrator.calls import prompt_for
from council.settings import Settings
from tests.kip.postgres_db import POSTGRES_SERVER, scratch_database
from tests.llm.scripted import ScriptedChatModel
from tests.orchestrator.conftest import ask, thread_of

pytestmark = pytest.mark.anyio

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(params=["sqlite", "postgres"])
async def remembering(
    request: pytest.FixtureRequest, models: ModelRegistry, tmp_path: Path
) -> AsyncIterator[Orchestrator]:
    """The same behaviour run against both checkpointers (PostgreSQL is the real server on 127.0.0.1:5432)."""
    if request.param == "postgres" and not postgres_reachable():
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    settings = Settings(
        _env_file=None, memory={"backend": request.param, "data_dir": tmp_path, "postgres_url": POSTGRES_URL}
    )
    async with open_orchestrator(settings, models=models) as orchestrator:
        yield orchestrator


async def test_turns_are_remembered_per_thread(remembering: Orchestrator) -> None:
    first = await ask(remembering, "/fast My name is Ada.")
    thread = thread_of(first)
    second = await ask(remembering, "/fast What is my name?", thread)

    messages = await remembering.threads.messages(thread, caller=LOCAL)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "/fast My name is Ada."),
        ("assistant", first.answer),
        ("user", "/fast What is my name?"),
        ("assistant", second.answer),
    ]
    assert messages[1].path == "fast"
    # The second call's prompt carried the first turn: it is longer than the first call's by at least that turn.
    assert second.calls[0].input_tokens > first.calls[0].input_tokens + 5
    listed = {summary.thread_id: summary for summary in await remembering.threads.listing(LOCAL)}
    assert listed[thread].turns == 2
    assert listed[thread].title == "/fast My name is Ada."


async def test_concurrent_turns_on_one_thread_are_both_remembered(remembering: Orchestrator) -> None:
    # Without serialising, both turns read the same (empty) checkpoint and the later write drops the other turn.
    opening = await ask(remembering, "/fast Hello.")
    thread = thread_of(opening)

    first, second = await asyncio.gather(
        ask(remembering, "/fast My name is Ada.", thread),
        ask(remembering, "/fast I live in London.", thread),
    )

    messages = [(m.role, m.content) for m in await remembering.threads.messages(thread, caller=LOCAL)]
    assert len(messages) == 6
    assert sorted([messages[2:4], messages[4:]]) == sorted(
        [
            [("user", "/fast My name is Ada."), ("assistant", first.answer)],
            [("user", "/fast I live in London."), ("assistant", second.answer)],
        ]
    )
    assert len(remembering.thread_locks) == 0, "the thread's lock is dropped once no turn uses it"


async def test_a_forgotten_thread_is_gone(remembering: Orchestrator) -> None:
    thread = thread_of(await ask(remembering, "/fast hi"))

    await remembering.threads.forget(thread, caller=LOCAL)

    with pytest.raises(NotFoundError):
        await remembering.threads.messages(thread, caller=LOCAL)
    with pytest.raises(NotFoundError):
        await remembering.threads.forget(thread, caller=LOCAL)
    with pytest.raises(NotFoundError):  # and no turn may continue it
        await remembering.admit("/fast hi again", caller=LOCAL, thread_id=thread)
    assert thread not in {summary.thread_id for summary in await remembering.threads.listing(LOCAL)}


class CountingSerializer:
    """The checkpointer's own serializer, counting what it decodes: how much of the memory a listing reads."""

    def __init__(self, inner: SerializerProtocol) -> None:
        self.inner = inner
        self.decoded = 0

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return self.inner.dumps_typed(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        self.decoded += 1
        return self.inner.loads_typed(data)


async def decoded_while_listing(orchestrator: Orchestrator, caller: Caller, newest: str) -> int:
    inner = orchestrator.checkpointer.serde
    counting = orchestrator.checkpointer.serde = CountingSerializer(inner)
    try:
        [listed] = await orchestrator.threads.listing(caller, limit=1)
    finally:
        orchestrator.checkpointer.serde = inner
    assert listed.thread_id == newest
    return counting.decoded


async def test_listing_a_page_reads_that_page_not_every_thread(remembering: Orchestrator) -> None:
    client = Caller(f"lister-{uuid.uuid4().hex[:12]}", admin=False)
    first = thread_of(await ask(remembering, "/fast hi", caller=client))
    for caller in (client, LOCAL):
        one_thread = await decoded_while_listing(remembering, caller, first)
        assert one_thread > 0

    for _ in range(3):
        newest = thread_of(await ask(remembering, "/fast hi", caller=client))

    for caller in (client, LOCAL):  # a client's own page, and the admin's page of everyone's
        assert await decoded_while_listing(remembering, caller, newest) == one_thread


async def forget_listed_owner(orchestrator: Orchestrator, thread_id: str) -> None:
    """Make a thread look written before checkpoints named their owner in their metadata (only their state did)."""
    saver = orchestrator.checkpointer
    if isinstance(saver, AsyncSqliteSaver):
        async with saver.lock:
            await saver.conn.execute(
                "UPDATE checkpoints SET metadata = CAST(json_remove(CAST(metadata AS TEXT), '$.owner') AS BLOB)"
                " WHERE thread_id = ?",
                (thread_id,),
            )
            await saver.conn.commit()
        return
    assert isinstance(saver, AsyncPostgresSaver)
    assert isinstance(saver.conn, AsyncConnectionPool)
    async with saver.conn.connection() as conn:
        await conn.execute("UPDATE checkpoints SET metadata = metadata - 'owner' WHERE thread_id = %s", (thread_id,))


async def test_threads_written_before_owners_were_listed_keep_their_owner(remembering: Orchestrator) -> None:
    client = Caller(f"lister-{uuid.uuid4().hex[:12]}", admin=False)
    mine_before = thread_of(await ask(remembering, "/fast mine, earlier", caller=client))
    theirs_before = thread_of(await ask(remembering, "/fast the local user's"))
    mine = thread_of(await ask(remembering, "/fast mine, now", caller=client))
    for thread in (mine_before, theirs_before):
        await forget_listed_owner(remembering, thread)

    assert [s.thread_id for s in await remembering.threads.listing(client, limit=2)] == [mine, mine_before]
    assert [s.thread_id for s in await remembering.threads.listing(LOCAL, limit=3)] == [
        mine,
        theirs_before,
        mine_before,
    ]


def test_history_is_trimmed_to_the_models_context() -> None:
    model = ScriptedChatModel(model_name="small", context_tokens=300, max_tokens=100)
    history = []
    for turn in range(20):
        history += [HumanMessage(f"question {turn} " + "word " * 20), AIMessage(f"answer {turn} " + "word " * 20)]
    history.append(HumanMessage("the latest question"))

    prompt = prompt_for(model, "system prompt", history)

    assert prompt[0].text == "system prompt"
    assert prompt[-1].text == "the latest question"
    assert prompt[1].type == "human", "trimmed history starts on a user turn"
    assert 2 < len(prompt) < len(history)


def test_a_message_longer_than_the_context_keeps_its_tail() -> None:
    model = ScriptedChatModel(model_name="small", context_tokens=300, max_tokens=100)

    prompt = prompt_for(model, "system prompt", [HumanMessage("x " * 2000 + "the end")])

    assert prompt[-1].text.endswith("the end")
    assert len(prompt[-1].text) < 4000


async def test_readiness_says_conversation_memory_answers_and_on_which_backend(remembering: Orchestrator) -> None:
    check = await remembering.readiness_check()
    assert (check.name, check.status, check.critical) == ("memory", HealthStatus.PASS, True)
    postgres = isinstance(remembering.checkpointer, AsyncPostgresSaver)
    assert check.observed["backend"] == ("postgres" if postgres else "sqlite")


async def test_readiness_fails_while_postgresql_refuses_and_recovers_on_its_own(
    models: ModelRegistry, tmp_path: Path
) -> None:
    """A real outage of the conversations' database (its connections cut, new ones refused), then its return."""
    with scratch_database() as url:
        name, server = url.rsplit("/", 1)[1], POSTGRES_SERVER
        settings = Settings(_env_file=None, memory={"backend": "postgres", "postgres_url": url})
        async with open_orchestrator(settings, models=models) as orchestrator:
            assert (await orchestrator.readiness_check()).status is HealthStatus.PASS
            with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
                admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            down = await orchestrator.readiness_check()
            assert down.status is HealthStatus.FAIL
            assert down.output
            with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
                admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name)))
            # The pool replaces the connections the server cut as it hands them out: no restart of the service.
            assert (await orchestrator.readiness_check()).status is HealthStatus.PASS
            after_outage = thread_of(await ask(orchestrator, "/fast Still remembered?"))
            assert len(await orchestrator.threads.messages(after_outage, caller=LOCAL)) == 2
