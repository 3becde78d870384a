"""The OpenAI-compatible backend against a real server: llama-cpp-python's own server serving the bundled GGUF."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage

from council.auth import LOCAL
from council.errors import ModelUnavailableError
from council.llm import ModelCallError, ModelRegistry
from council.llm.openai_compat import OpenAICompatChatModel
from council.orchestrator import open_orchestrator
from council.settings import LLMSettings, RoleSettings, Settings
from tests.conftest import closed_port

pytestmark = pytest.mark.anyio


def remote(base_url: str, max_tokens: int = 6) -> OpenAICompatChatModel:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=30)
    return OpenAICompatChatModel(model_name="smollm2", client=client, max_tokens=max_tokens)


async def test_streams_tokens_with_usage_from_a_real_server(llama_server_url: str) -> None:
    model = remote(llama_server_url)
    try:
        chunks = [chunk async for chunk in model.astream([HumanMessage("Name three colours.")])]
    finally:
        await model.aclose()

    texts = [chunk.text for chunk in chunks if chunk.text]
    assert len(texts) >= 2
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert isinstance(total, AIMessageChunk)
    assert total.usage_metadata is not None
    assert 0 < total.usage_metadata["output_tokens"] <= 6
    assert total.usage_metadata["input_tokens"] > 0
    # llama.cpp's server reports no usage when streaming: the input count is then an estimate, flagged as such.
    assert total.response_metadata["usage_reported"] is False
    assert total.response_metadata["ttft_ms"] > 0


async def test_the_seed_goes_to_the_server_which_then_repeats_a_sampled_answer(llama_server_url: str) -> None:
    async def answer(seed: int | None) -> str:
        client = openai.AsyncOpenAI(base_url=llama_server_url, api_key="unused", max_retries=0, timeout=30)
        model = OpenAICompatChatModel(model_name="smollm2", client=client, max_tokens=24, temperature=1.5, seed=seed)
        try:
            return str((await model.ainvoke([HumanMessage("Name three colours.")])).content)
        finally:
            await model.aclose()

    await answer(None)  # the server's context now holds the question: every call below starts from that state
    seeded = [await answer(11) for _ in range(3)]
    unseeded = {await answer(None) for _ in range(4)}

    assert seeded[0] == seeded[1] == seeded[2]
    assert len(unseeded) > 1  # at this temperature, unseeded answers wander: the seed is what held them


async def test_readiness_passes_when_the_server_answers_and_fails_when_it_does_not(llama_server_url: str) -> None:
    up, down = remote(llama_server_url), remote(f"http://127.0.0.1:{closed_port()}/v1")
    try:
        assert (await up.readiness_check()).status == "pass"
        failed = await down.readiness_check()
    finally:
        await up.aclose()
        await down.aclose()

    assert failed.status == "fail"
    assert "Connection error" in failed.output


async def test_an_unreachable_server_is_a_model_call_error() -> None:
    model = remote(f"http://127.0.0.1:{closed_port()}/v1")
    try:
        with pytest.raises(ModelCallError, match="failed for model 'smollm2'"):
            await model.ainvoke([HumanMessage("hi")])
    finally:
        await model.aclose()


async def test_roles_choose_their_backend_by_settings(llama_server_url: str, tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        memory={"data_dir": tmp_path},
        llm=LLMSettings(max_tokens=6, pool_size=1),
        deliberation={"roles": {"fast": RoleSettings(backend="openai", base_url=llama_server_url, model="smollm2")}},
    )
    async with open_orchestrator(settings) as orchestrator:
        assert isinstance(orchestrator.models.get("fast"), OpenAICompatChatModel)
        assert not isinstance(orchestrator.models.get("chair"), OpenAICompatChatModel)
        final = await orchestrator.answer(await orchestrator.admit("/fast hello", caller=LOCAL))

    assert final.answer
    assert final.calls[0].model == "smollm2"


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """A real HTTP server that reads each request and never answers: only a read timeout ends a call to it."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        server.close()
        server.abort_clients()
        await server.wait_closed()


async def test_a_roles_own_timeouts_are_the_ones_its_client_uses() -> None:
    async with silent_server() as base_url:
        llm = LLMSettings(backend="openai", base_url=base_url, connect_timeout_s=5, read_timeout_s=120, max_tokens=6)
        roles = {
            "fast": RoleSettings(read_timeout_s=0.3),
            "critical": RoleSettings(connect_timeout_s=1.5),
        }
        registry = ModelRegistry.from_settings(llm, roles, ["fast", "critical", "chair"])
        try:
            fast, critical, chair = (registry.get(role) for role in ("fast", "critical", "chair"))
            assert isinstance(fast, OpenAICompatChatModel)
            assert isinstance(critical, OpenAICompatChatModel)
            assert isinstance(chair, OpenAICompatChatModel)
            assert fast.client.timeout == openai.Timeout(0.3, connect=5)
            assert critical.client.timeout == openai.Timeout(120, connect=1.5)
            assert chair.client.timeout == openai.Timeout(120, connect=5), "a role without its own uses COUNCIL_LLM__"
            assert len({id(fast.client), id(critical.client), id(chair.client)}) == 3

            # The silent server answers nobody: the fast role gives up after its own 0.3 s, not the global 120 s.
            async with asyncio.timeout(10):
                with pytest.raises(ModelCallError, match="timed out"):
                    await fast.ainvoke([HumanMessage("hi")])
        finally:
            await registry.aclose()


async def test_a_failing_fast_model_is_a_clear_502(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{closed_port()}/v1"
    settings = Settings(
        _env_file=None,
        memory={"data_dir": tmp_path},
        llm=LLMSettings(max_tokens=6, pool_size=1),
        deliberation={"roles": {"fast": RoleSettings(backend="openai", base_url=down)}},
    )
    registry_roles = ModelRegistry.from_settings(settings.llm, settings.deliberation.roles, ["fast"]).roles
    assert registry_roles == ["fast"]
    async with open_orchestrator(settings) as orchestrator:
        with pytest.raises(ModelUnavailableError, match="The fast model failed"):
            await orchestrator.answer(await orchestrator.admit("/fast hello", caller=LOCAL))
