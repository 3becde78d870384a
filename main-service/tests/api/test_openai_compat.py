"""The official `openai` SDK against `/v1/chat/completions` of a real main-service process (uvicorn), plus bad input."""

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from council.app import create_app
from council.kip.knowledge import KnowledgeKind, KnowledgeQuery
from council.settings import RoleSettings, Settings
from tests.conftest import closed_port
from tests.lifespan import app_started
from tests.processes import free_port, running


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    data = tmp_path_factory.mktemp("council-data")
    env = {
        "COUNCIL_SERVER__PORT": str(port),
        "COUNCIL_MEMORY__DATA_DIR": str(data / "memory"),
        "COUNCIL_KIP__DATA_DIR": str(data / "kip"),
        "COUNCIL_VOICE__BASE_URL": f"http://127.0.0.1:{closed_port()}",
        "COUNCIL_LLM__MAX_TOKENS": "8",
    }
    with running(["-m", "council"], ready_url=f"http://127.0.0.1:{port}/health/live", env=env):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def sdk(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)


def test_models_list_the_council_the_fast_path_and_the_roles(sdk: openai.OpenAI) -> None:
    ids = [model.id for model in sdk.models.list()]

    assert ids[:3] == ["council", "fast", "auto"]
    assert {"analytical", "creative", "critical", "chair"} <= set(ids)


def test_council_completion_without_streaming(sdk: openai.OpenAI) -> None:
    completion = sdk.chat.completions.create(
        model="council", messages=[{"role": "user", "content": "Is the sky blue?"}]
    )

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    extension = completion.model_extra["council"]  # type: ignore[index]
    assert extension["path"] == "council"
    assert len(extension["members"]) == 3


def test_fast_completion_streams_deltas(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="fast",
        messages=[
            {"role": "system", "content": "ignored: the roles have their own prompts"},
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Hello Ada."},
            {"role": "user", "content": "What is my name?"},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )

    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens > 20  # the earlier turns went into the prompt


def test_a_role_can_be_the_model(sdk: openai.OpenAI) -> None:
    completion = sdk.chat.completions.create(model="critical", messages=[{"role": "user", "content": "Hi"}])

    assert completion.model_extra["council"]["reason"] == "model 'critical' selected by the caller"  # type: ignore[index]


def test_an_unknown_model_is_404_the_sdk_understands(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        sdk.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "Hi"}])

    assert "Unknown model 'gpt-9'" in str(raised.value)


def test_the_councils_turn_options_ride_along_as_extension_fields(sdk: openai.OpenAI) -> None:
    question = [{"role": "user", "content": "Tea or coffee?"}]
    ranked = sdk.chat.completions.create(model="council", messages=question, extra_body={"ranking": True})
    chosen = sdk.chat.completions.create(
        model="council", messages=question, extra_body={"members": ["critical", "analytical"], "review_round": True}
    )
    plain = sdk.chat.completions.create(model="council", messages=question)

    ranking = ranked.model_extra["council"]["ranking"]  # type: ignore[index]
    assert sorted(ballot["ranker"] for ballot in ranking["ballots"]) == ["analytical", "creative", "critical"]
    extension = chosen.model_extra["council"]  # type: ignore[index]
    assert sorted(member["member"] for member in extension["members"]) == ["analytical", "critical"]
    assert all(member["review"] is not None for member in extension["members"])  # the review round ran
    assert extension["ranking"] is None
    assert plain.model_extra["council"]["ranking"] is None  # type: ignore[index]
    assert all(member["review"] is None for member in plain.model_extra["council"]["members"])  # type: ignore[index]


@pytest.mark.parametrize(
    ("options", "fragment"),
    [({"ranking": "yes"}, "ranking"), ({"review_round": 1}, "review_round"), ({"members": ["nobody"]}, "nobody")],
)
def test_bad_turn_options_are_422(base_url: str, options: dict[str, object], fragment: str) -> None:
    body = {"model": "council", "messages": [{"role": "user", "content": "Hi"}], **options}
    response = httpx.post(f"{base_url}/chat/completions", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert fragment in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ([], "messages"),
        ([{"role": "assistant", "content": "hello"}], "last message must have role 'user'"),
        ([{"role": "user", "content": ""}], "The message is empty."),
        ([{"role": "user", "content": "x" * 16_001}], "COUNCIL_DELIBERATION__MAX_MESSAGE_CHARS"),
    ],
)
def test_bad_messages_are_422(base_url: str, messages: list[dict[str, str]], fragment: str) -> None:
    response = httpx.post(f"{base_url}/chat/completions", json={"model": "fast", "messages": messages})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert fragment in response.json()["error"]["message"]


@pytest.fixture
async def failing_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its `fast` role on an OpenAI-compatible server that is down (a closed port): a real failure."""
    roles = {"fast": RoleSettings(backend="openai", base_url=f"http://127.0.0.1:{closed_port()}/v1")}
    broken = settings.model_copy(update={"deliberation": settings.deliberation.model_copy(update={"roles": roles})})
    async with app_started(create_app(broken)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            yield http


@pytest.mark.anyio
async def test_a_failing_model_is_502_without_streaming(failing_client: httpx.AsyncClient) -> None:
    response = await failing_client.post(
        "/v1/chat/completions", json={"model": "fast", "messages": [{"role": "user", "content": "hi"}]}
    )

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "model_unavailable"
    assert "127.0.0.1" not in response.text, "the client is told which role failed, not where its backend is"


@pytest.mark.anyio
async def test_a_failing_model_ends_the_stream_with_an_error_chunk(failing_client: httpx.AsyncClient) -> None:
    response = await failing_client.post(
        "/v1/chat/completions",
        json={"model": "fast", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    )

    assert response.status_code == 200  # the stream had started; the failure arrives inside it
    payloads = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert json.loads(payloads[-1])["error"]["code"] == "model_unavailable"
    assert "[DONE]" not in payloads


@pytest.mark.anyio
async def test_a_stateless_council_completion_leaves_no_record(
    client: httpx.AsyncClient, lifespan_state: dict[str, Any]
) -> None:
    # Before: each stateless council completion was kept as a KIP decision tied to no thread, which its caller could
    # never delete. A turn with no conversation keeps nothing (docs/reliability.md, "Fair share").
    decisions = KnowledgeQuery(kind=KnowledgeKind.DECISION)
    question = {"role": "user", "content": "Should I learn Go or Rust?"}
    response = await client.post("/v1/chat/completions", json={"model": "council", "messages": [question]})

    assert response.status_code == 200, response.text
    assert response.json()["council"]["path"] == "council"
    store = lifespan_state["kip"].store
    assert await store.search_knowledge(decisions) == []
    # The same question in a conversation (which its owner can delete) is recorded: the check above could fail.
    assert (await client.post("/api/chat", json={"message": "/council Should I learn Go or Rust?"})).status_code == 200
    assert len(await store.search_knowledge(decisions)) == 1
