"""Conversation memory: turns kept per thread by the SQLite and PostgreSQL checkpointers; history trimmed to fit."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from langchain_core.messages import AIMessage, HumanMessage

from council.auth import LOCAL
from council.errors import NotFoundError
from council.llm import ModelRegistry
from council.orchestrator import Orchestrator, open_orchestrator
from council.orchestrator.calls import prompt_for
from council.settings import Settings
from tests.llm.scripted import ScriptedChatModel

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
    thread = f"memory-{uuid.uuid4().hex}"

    first = await remembering.answer("/fast My name is Ada.", thread_id=thread, caller=LOCAL)
    second = await remembering.answer("/fast What is my name?", thread_id=thread, caller=LOCAL)

    messages = await remembering.conversation(thread, caller=LOCAL)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "/fast My name is Ada."),
        ("assistant", first.answer),
        ("user", "/fast What is my name?"),
        ("assistant", second.answer),
    ]
    assert messages[1].path == "fast"
    # The second call's prompt carried the first turn: it is longer than the first call's by at least that turn.
    assert second.calls[0].input_tokens > first.calls[0].input_tokens + 5
    listed = {summary.thread_id: summary for summary in await remembering.conversations(LOCAL)}
    assert listed[thread].turns == 2
    assert listed[thread].title == "/fast My name is Ada."


async def test_concurrent_turns_on_one_thread_are_both_remembered(remembering: Orchestrator) -> None:
    # Without serialising, both turns read the same (empty) checkpoint and the later write drops the other turn.
    thread = f"concurrent-{uuid.uuid4().hex}"

    first, second = await asyncio.gather(
        remembering.answer("/fast My name is Ada.", thread_id=thread, caller=LOCAL),
        remembering.answer("/fast I live in London.", thread_id=thread, caller=LOCAL),
    )

    messages = [(m.role, m.content) for m in await remembering.conversation(thread, caller=LOCAL)]
    assert len(messages) == 4
    assert sorted([messages[:2], messages[2:]]) == sorted(
        [
            [("user", "/fast My name is Ada."), ("assistant", first.answer)],
            [("user", "/fast I live in London."), ("assistant", second.answer)],
        ]
    )
    assert len(remembering.thread_locks) == 0, "the thread's lock is dropped once no turn uses it"


async def test_a_forgotten_thread_is_gone(remembering: Orchestrator) -> None:
    thread = f"forget-{uuid.uuid4().hex}"
    await remembering.answer("/fast hi", thread_id=thread, caller=LOCAL)

    await remembering.forget(thread, caller=LOCAL)

    with pytest.raises(NotFoundError):
        await remembering.conversation(thread, caller=LOCAL)
    with pytest.raises(NotFoundError):
        await remembering.forget(thread, caller=LOCAL)
    assert thread not in {summary.thread_id for summary in await remembering.conversations(LOCAL)}


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
