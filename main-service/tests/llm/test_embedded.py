"""The embedded llama.cpp backend with the real bundled SmolLM2 model."""

import asyncio
import threading
import time

import anyio
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage

from council.llm.base import Usage
from council.llm.embedded import EmbeddedChatModel, LlamaPool, bundled_gguf

pytestmark = pytest.mark.anyio

QUESTION = [SystemMessage("You are concise."), HumanMessage("Name three colours.")]


def test_bundled_gguf_is_located_inside_the_installed_wheel() -> None:
    path = bundled_gguf()

    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000


async def test_streams_tokens_then_usage_and_timings(pool: LlamaPool) -> None:
    model = EmbeddedChatModel(model_name="smollm2", pool=pool, max_tokens=6)

    chunks = [chunk async for chunk in model.astream(QUESTION)]

    texts = [chunk.text for chunk in chunks if chunk.text]
    assert len(texts) >= 2, "the answer arrives token by token"
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert isinstance(total, AIMessageChunk)
    assert total.usage_metadata is not None
    assert total.usage_metadata["output_tokens"] == len(texts) <= 6
    assert total.usage_metadata["input_tokens"] > 10  # system prompt + question through the chat template
    assert 0 < total.response_metadata["ttft_ms"] <= total.response_metadata["latency_ms"]


async def test_a_prompt_goes_to_the_idle_context_that_already_holds_its_start() -> None:
    # A prompt token costs about as much as a generated one here: a role's system prompt (and a conversation's
    # history) must not be evaluated again each turn. With three contexts taken in turn, the third prompt would land
    # on the third, empty context.
    pool = LlamaPool(bundled_gguf(), size=3, context_tokens=1024, threads=1)
    try:
        model = EmbeddedChatModel(model_name="smollm2", pool=pool, max_tokens=2, temperature=0.0)
        member = SystemMessage("You are the analytical member of a council. Reason step by step, state facts.")
        poet = SystemMessage("You are a poet. Answer every question in rhyme.")
        turns = [[member, HumanMessage("Is tea healthy?")], [poet, HumanMessage("Is tea healthy?")]]
        turns.append([member, HumanMessage("Is coffee healthy?")])
        answers = ["".join([chunk.text async for chunk in model.astream(messages)]) for messages in turns]
        first, second, third = list(pool.generations)[-3:]
        again = "".join([chunk.text async for chunk in model.astream(turns[2])])  # all of it held now
        repeated = pool.generations[-1]
    finally:
        pool.close()

    assert first.cached_tokens < first.prompt_tokens / 2
    assert second.cached_tokens < second.prompt_tokens / 2
    assert 20 < third.cached_tokens < third.prompt_tokens  # the system prompt was held, the question was new
    assert repeated.cached_tokens == repeated.prompt_tokens
    # Not always the same words as its first evaluation: llama.cpp's sums over a 1-token batch and a 9-token batch
    # differ in the last bits, which can tip a near tie at temperature 0 (as with llama.cpp's own server).
    assert again
    assert all(answers)


def test_closing_the_pool_under_a_running_generation_frees_its_context_only_when_it_ends() -> None:
    # Shutdown may close the pool while a cancelled turn's worker still decodes: freeing that context under it
    # crashed the process (SIGSEGV in llama_decode).
    pool = LlamaPool(bundled_gguf(), size=1, context_tokens=1024, threads=1)
    stop, emitted, first_token = threading.Event(), list[object](), threading.Event()

    def emit(item: object) -> None:
        emitted.append(item)
        if isinstance(item, str):
            first_token.set()

    messages = [{"role": "user", "content": "Tell me a long story about a dragon."}]
    worker = threading.Thread(target=pool.generate, args=(messages, 400, 0.8, stop, emit))
    worker.start()
    assert first_token.wait(60)
    pool.close()  # while it decodes
    time.sleep(0.2)  # it goes on decoding on its context, which is still alive
    stop.set()
    worker.join(60)
    after: list[object] = []
    pool.generate(messages, 4, 0.8, threading.Event(), after.append)

    assert not worker.is_alive()
    assert pool.busy == 0
    assert any(isinstance(item, Usage) for item in emitted), "the running generation ended normally"
    assert any(isinstance(item, RuntimeError) and "closed" in str(item) for item in after)


async def test_concurrent_generations_beyond_the_pool_size_wait_for_a_free_context(pool: LlamaPool) -> None:
    model = EmbeddedChatModel(model_name="smollm2", pool=pool, max_tokens=4)
    busy_seen: list[int] = []

    async def generate() -> str:
        text = ""
        async for chunk in model.astream(QUESTION):
            busy_seen.append(pool.busy)
            text += chunk.text
        return text

    answers = await asyncio.gather(*(generate() for _ in range(pool.size + 2)))

    assert all(answers)
    assert max(busy_seen) <= pool.size, "a context never serves two generations at once"
    assert await anyio.to_thread.run_sync(pool.wait_idle, 5.0)


async def test_closing_the_stream_stops_decoding_at_the_next_token(pool: LlamaPool) -> None:
    model = EmbeddedChatModel(model_name="smollm2", pool=pool, max_tokens=1000, temperature=0.8)
    before = len(pool.generations)
    story = [HumanMessage("Write a very long story about a dragon who learns to sing, with many chapters.")]

    stream = model.astream(story)
    async for chunk in stream:
        if chunk.text:
            break
    await stream.aclose()  # what cancellation of the consuming task does too

    assert await anyio.to_thread.run_sync(pool.wait_idle, 30.0)
    generation = pool.generations[-1]
    assert len(pool.generations) == before + 1
    assert generation.cancelled
    assert generation.output_tokens < 1000


async def test_readiness_reports_the_loaded_model(pool: LlamaPool) -> None:
    check = await EmbeddedChatModel(model_name="smollm2", pool=pool).readiness_check()

    assert check.status == "pass"
    assert "SmolLM2" in check.output


async def test_a_seed_makes_a_sampled_answer_repeat() -> None:
    # One context, warmed with the question first: llama.cpp's logits also depend on whether a prompt is evaluated
    # whole or continued from a cached start (the last bits differ), which no seed can fix; warm, every call below
    # starts from the same cached state.
    pool = LlamaPool(bundled_gguf(), size=1, context_tokens=1024, threads=1)

    async def answer(seed: int | None) -> str:
        model = EmbeddedChatModel(model_name="smollm2", pool=pool, max_tokens=24, temperature=1.5, seed=seed)
        return str((await model.ainvoke(QUESTION)).content)

    try:
        await answer(None)
        seeded = [await answer(7) for _ in range(3)]
        unseeded = {await answer(None) for _ in range(4)}
    finally:
        pool.close()

    assert seeded[0] == seeded[1] == seeded[2]
    assert len(unseeded) > 1  # without a seed each call samples anew: the seed is what holds the answer
