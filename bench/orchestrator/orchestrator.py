"""Orchestrator costs on the bundled SmolLM2 model, each against its floor, medians side by side in one run.

1. Time to first token: a `/fast` turn through the LangGraph orchestrator (router, graph, events) vs the same
   prompt streamed by raw llama-cpp-python.
2. Council wall time vs the slowest member's call + the chair's synthesis call (what a perfectly concurrent
   council would cost), and vs the members' summed time (a sequential council).
3. Embedded decode tokens/s: the LangChain-wrapped embedded backend vs raw llama-cpp-python, same context size
   and threads, counted from the first token to the last.
Usage: make bench, or main-service/.venv/bin/python bench/orchestrator/orchestrator.py [--rounds R]; QUICK=1 = 2 rounds.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from council.auth import LOCAL
from council.llm import ModelRegistry
from council.llm.embedded import EmbeddedChatModel, bundled_gguf
from council.orchestrator import open_orchestrator
from council.orchestrator.events import FinalEvent, SynthesisDeltaEvent
from council.orchestrator.prompts import ROLE_PROMPTS
from council.orchestrator.service import council_roles
from council.settings import Settings
from langchain_core.messages import HumanMessage, SystemMessage
from llama_cpp import Llama

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _stats import paired_ratio, summary, write_result

QUESTION = "What is the boiling point of water at sea level?"
DECODE_TOKENS = 64
CONTEXT = 2048


def raw_stream(llama: Llama, max_tokens: int) -> tuple[float, float, int]:
    """(time to first token, seconds from first to last token, tokens) for raw llama-cpp-python."""
    messages: Any = [{"role": "system", "content": ROLE_PROMPTS["fast"]}, {"role": "user", "content": QUESTION}]
    llama.reset()  # type: ignore[no-untyped-call]  # no prompt-prefix cache from the previous round: the orchestrator's contexts rotate too
    started = time.perf_counter()
    first = last = 0.0
    tokens = 0
    for chunk in llama.create_chat_completion(messages, max_tokens=max_tokens, temperature=0.0, stream=True):
        if chunk["choices"][0]["delta"].get("content"):  # type: ignore[index, union-attr]
            last = time.perf_counter()
            first = first or last
            tokens += 1
    return first - started, last - first, tokens


async def wrapped_stream(model: EmbeddedChatModel) -> tuple[float, int]:
    messages = [SystemMessage(ROLE_PROMPTS["fast"]), HumanMessage(QUESTION)]
    first = last = 0.0
    tokens = 0
    async for chunk in model.astream(messages):
        if chunk.text:
            last = time.perf_counter()
            first = first or last
            tokens += 1
    return last - first, tokens


async def measure(rounds: int) -> dict[str, list[float]]:
    settings = Settings(_env_file=None, llm={"max_tokens": DECODE_TOKENS, "temperature": 0.0})
    models = ModelRegistry.from_settings(settings.llm, settings.deliberation.roles, council_roles(settings))
    (pool,) = models.pools
    threads = max(1, (os.cpu_count() or 1) // settings.llm.pool_size)
    raw = Llama(str(bundled_gguf()), n_ctx=CONTEXT, n_threads=threads, verbose=False)
    wrapped = EmbeddedChatModel(model_name="smollm2", pool=pool, max_tokens=DECODE_TOKENS, temperature=0.0)
    samples: dict[str, list[float]] = {
        key: []
        for key in (
            "ttft_raw_ms",
            "ttft_orchestrator_ms",
            "ttft_graph_overhead_ms",
            "council_wall_ms",
            "council_slowest_member_plus_synthesis_ms",
            "council_members_sum_plus_synthesis_ms",
            "decode_raw_tokens_per_s",
            "decode_embedded_tokens_per_s",
        )
    }
    with tempfile.TemporaryDirectory() as directory:
        settings = settings.model_copy(
            update={"memory": settings.memory.model_copy(update={"data_dir": Path(directory)})}
        )
        async with open_orchestrator(settings, models=models) as orchestrator:
            raw_stream(raw, 4)  # warm-up: first calls pay one-off allocation costs on both sides
            await orchestrator.answer(await orchestrator.admit(f"/council {QUESTION}", caller=LOCAL))
            for _ in range(rounds):
                ttft, span, tokens = raw_stream(raw, DECODE_TOKENS)
                samples["ttft_raw_ms"].append(ttft * 1000)
                samples["decode_raw_tokens_per_s"].append((tokens - 1) / span)

                span, tokens = await wrapped_stream(wrapped)
                samples["decode_embedded_tokens_per_s"].append((tokens - 1) / span)

                started = time.perf_counter()
                first_token = None
                async for event in orchestrator.turn(await orchestrator.admit(f"/fast {QUESTION}", caller=LOCAL)):
                    if isinstance(event, SynthesisDeltaEvent) and first_token is None:
                        first_token = time.perf_counter() - started
                    if isinstance(event, FinalEvent) and first_token is not None:
                        # The same call's own time to first token, measured inside the model: the difference is
                        # what the router, the graph and the event plumbing add, free of prompt-cache luck.
                        samples["ttft_graph_overhead_ms"].append(first_token * 1000 - event.calls[0].ttft_ms)
                assert first_token is not None
                samples["ttft_orchestrator_ms"].append(first_token * 1000)

                started = time.perf_counter()
                final = await orchestrator.answer(await orchestrator.admit(f"/council {QUESTION}", caller=LOCAL))
                wall = (time.perf_counter() - started) * 1000
                members = [call.latency_ms for call in final.calls if call.phase == "answer"]
                synthesis = sum(call.latency_ms for call in final.calls if call.phase == "synthesis")
                samples["council_wall_ms"].append(wall)
                samples["council_slowest_member_plus_synthesis_ms"].append(max(members) + synthesis)
                samples["council_members_sum_plus_synthesis_ms"].append(sum(members) + synthesis)
    raw.close()
    for pool in models.pools:
        pool.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2 if os.environ.get("QUICK") else 5)
    args = parser.parse_args()
    samples = asyncio.run(measure(args.rounds))
    units = {"ms": "ms", "s": "tokens/s"}
    result: dict[str, Any] = {
        "model": bundled_gguf().name,
        "rounds": args.rounds,
        "decode_max_tokens": DECODE_TOKENS,
        **{key: summary(values, units[key.rsplit("_", 1)[-1]], 1) for key, values in samples.items()},
        "orchestrator_ttft_minus_raw_ms": round(
            statistics.median(samples["ttft_orchestrator_ms"]) - statistics.median(samples["ttft_raw_ms"]), 1
        ),
        "orchestrator_over_raw_ttft": paired_ratio(samples["ttft_orchestrator_ms"], samples["ttft_raw_ms"]),
        "council_overhead_over_concurrent_floor_ms": round(
            statistics.median(samples["council_wall_ms"])
            - statistics.median(samples["council_slowest_member_plus_synthesis_ms"]),
            1,
        ),
        "council_wall_over_concurrent_floor": paired_ratio(
            samples["council_wall_ms"], samples["council_slowest_member_plus_synthesis_ms"]
        ),
        "council_wall_over_sequential": paired_ratio(
            samples["council_wall_ms"], samples["council_members_sum_plus_synthesis_ms"]
        ),
        "embedded_over_raw_decode": paired_ratio(
            samples["decode_embedded_tokens_per_s"], samples["decode_raw_tokens_per_s"]
        ),
    }
    write_result("orchestrator", result)


if __name__ == "__main__":
    main()
