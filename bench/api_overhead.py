"""What the main service adds on top of its engines, with both services as real processes on loopback.

1. Transcription hop: a 1-second spoken WAV to main's `POST /api/voice/transcribe` (B) and to the voice
   service's `/v1/audio/transcriptions` directly (A), alternating; the engine's own seconds are read from the
   voice service's `engine_call` log line of the same request ID. Reports B, A, B-A, and B minus engine time.
2. Time to first token of a `/fast` turn through `/ws/chat`, `/api/chat/stream` and `/v1/chat/completions`,
   each alternated with the same prompt streamed by raw llama-cpp-python in this process (same GGUF, same threads
   per context, same system-prompt prefix reuse): ratio with spread. For WS and SSE also client TTFT minus the model call's own TTFT
   (from the `final` event): what the transport, router and graph add.
3. WebSocket capacity: idle `/ws/chat` sessions opened and held (all answer a ping), main's RSS per session; then
   K concurrent /fast turns on the embedded model (pool of 3 contexts): turns/s, tokens/s, latency, queueing.
Usage: main-service/.venv/bin/python bench/api_overhead.py; QUICK=1 for a smoke run (few rounds, 50 sessions).
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from council.llm.embedded import bundled_gguf
from council.orchestrator.prompts import ROLE_PROMPTS
from llama_cpp import Llama

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the process harness the tests use
from _stats import paired_ratio, summary, write_result
from _voice_audio import wav_bytes

from servicekit import ServiceProcess, main_process, voice_process

POOL_SIZE = 3  # the service default (COUNCIL_LLM__POOL_SIZE)
MAX_TOKENS = 16
SENTENCE = "The council approved the budget after a long debate."


# ---- 1. transcription ---------------------------------------------------------------------------------------------


def one_second_wav(voice: ServiceProcess) -> bytes:
    """One second of real speech: Piper's rendering of a sentence, cut (or zero-padded) to exactly 24000 samples."""
    body = {"voice": "en_US-joe-medium", "input": SENTENCE, "response_format": "pcm"}
    pcm = httpx.post(f"{voice.url}/v1/audio/speech", json=body, timeout=60).content
    return wav_bytes((pcm + bytes(48_000))[:48_000], 24_000)


def engine_seconds(voice: ServiceProcess) -> dict[str, float]:
    return {
        line["request_id"]: float(line["processing_seconds"])
        for line in voice.log_lines()
        if line.get("event") == "engine_call" and "request_id" in line
    }


def transcription(main: ServiceProcess, voice: ServiceProcess, calls: int) -> dict[str, Any]:
    wav = one_second_wav(voice)
    direct, through_main, ids = [], [], []
    with httpx.Client(timeout=60) as client:
        for n in range(-3, calls):  # three warm-up pairs
            for target, path, bucket in (
                (voice.url, "/v1/audio/transcriptions", direct),
                (main.url, "/api/voice/transcribe", through_main),
            ):
                request_id = f"bench-{'v' if bucket is direct else 'm'}{n}"
                started = time.perf_counter()
                response = client.post(
                    target + path, files={"file": ("one.wav", wav, "audio/wav")}, headers={"X-Request-ID": request_id}
                )
                elapsed = (time.perf_counter() - started) * 1000
                response.raise_for_status()
                if n >= 0:
                    bucket.append(elapsed)
                    ids.append(request_id)
    time.sleep(0.5)  # let the last log lines reach the file
    engine = engine_seconds(voice)
    engine_direct = [engine[f"bench-v{n}"] * 1000 for n in range(calls)]
    engine_main = [engine[f"bench-m{n}"] * 1000 for n in range(calls)]
    return {
        "audio_seconds": 1.0,
        "calls": calls,
        "through_main_ms": summary(through_main, "ms"),
        "voice_direct_ms": summary(direct, "ms"),
        "engine_processing_ms_in_main_calls": summary(engine_main, "ms (log resolution 1 ms)"),
        "through_main_minus_engine_ms": summary([t - e for t, e in zip(through_main, engine_main, strict=True)], "ms"),
        "direct_minus_engine_ms": summary([t - e for t, e in zip(direct, engine_direct, strict=True)], "ms"),
        "added_by_main_ms": summary([b - a for a, b in zip(direct, through_main, strict=True)], "ms"),
        "main_over_direct": paired_ratio(through_main, direct),
    }


# ---- 2. time to first token ---------------------------------------------------------------------------------------


def raw_ttft(llama: Llama, question: str) -> float:
    # No reset: like each of the service's contexts, it reuses the KV cache of the shared system-prompt prefix;
    # the question differs every round, so only that prefix is reused on both sides.
    messages: Any = [{"role": "system", "content": ROLE_PROMPTS["fast"]}, {"role": "user", "content": question}]
    started = time.perf_counter()
    for chunk in llama.create_chat_completion(messages, max_tokens=MAX_TOKENS, temperature=0.0, stream=True):
        if chunk["choices"][0]["delta"].get("content"):  # type: ignore[index, union-attr]
            return (time.perf_counter() - started) * 1000  # the generator is closed; the next call resets
    raise RuntimeError("no token")


async def ws_turn(socket: Any, turn_id: str, text: str) -> tuple[float | None, float, dict[str, Any]]:
    """One `/ws/chat` turn: seconds to its first synthesis delta (None: there was none) and to its end, and its
    `final` event."""
    started = time.perf_counter()
    await socket.send(json.dumps({"type": "message", "id": turn_id, "text": text}))
    first = None
    while True:
        event = json.loads(await socket.recv())
        if event["type"] == "synthesis.delta" and first is None:
            first = time.perf_counter() - started
        if event["type"] in ("final", "error"):
            assert event["type"] == "final", event
            return first, time.perf_counter() - started, event


async def ws_ttft(socket: Any, question: str, n: int) -> tuple[float, float]:
    first, _, final = await ws_turn(socket, f"t{n}", f"/fast {question}")
    assert first is not None
    return first * 1000, first * 1000 - final["calls"][0]["ttft_ms"]


async def sse_ttft(client: httpx.AsyncClient, question: str) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    async with client.stream("POST", "/api/chat/stream", json={"message": f"/fast {question}"}) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["type"] == "synthesis.delta" and first is None:
                first = (time.perf_counter() - started) * 1000
            if event["type"] == "final":
                assert first is not None
                return first, first - event["calls"][0]["ttft_ms"]
    raise RuntimeError("stream ended without final")


async def openai_ttft(client: httpx.AsyncClient, question: str) -> float:
    body = {"model": "fast", "stream": True, "messages": [{"role": "user", "content": question}]}
    started = time.perf_counter()
    first = None
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: {") and first is None:
                choices = json.loads(line[6:]).get("choices") or [{}]
                if choices[0].get("delta", {}).get("content"):
                    first = (time.perf_counter() - started) * 1000
    assert first is not None
    return first


async def time_to_first_token(main: ServiceProcess, rounds: int) -> dict[str, Any]:
    threads = max(1, (os.cpu_count() or 1) // POOL_SIZE)  # what the service gives each of its contexts
    llama = Llama(str(bundled_gguf()), n_ctx=2048, n_threads=threads, verbose=False)
    samples: dict[str, list[float]] = {
        key: []
        for key in ("ws", "ws_direct", "ws_minus_model", "sse", "sse_direct", "sse_minus_model", "v1", "v1_direct")
    }
    async with (
        websockets.connect(main.url.replace("http", "ws") + "/ws/chat") as socket,
        httpx.AsyncClient(base_url=main.url, timeout=60) as client,
    ):
        for n in range(-2, rounds):  # two warm-up rounds
            for transport in ("ws", "sse", "v1"):
                # Fresh text per pair: only the system-prompt prefix can come from a context's KV cache.
                question = f"What is the boiling point of water at sea level? ({transport} {n})"
                direct = raw_ttft(llama, question)
                if transport == "ws":
                    ttft, over_model = await ws_ttft(socket, question, n)
                elif transport == "sse":
                    ttft, over_model = await sse_ttft(client, question)
                else:
                    ttft, over_model = await openai_ttft(client, question), None
                if n >= 0:
                    samples[transport].append(ttft)
                    samples[f"{transport}_direct"].append(direct)
                    if over_model is not None:
                        samples[f"{transport}_minus_model"].append(over_model)
    llama.close()
    report: dict[str, Any] = {"rounds": rounds, "threads_per_context": threads, "max_tokens": MAX_TOKENS}
    for transport in ("ws", "sse", "v1"):
        report[transport] = {
            "through_main_ms": summary(samples[transport], "ms"),
            "raw_llama_cpp_ms": summary(samples[f"{transport}_direct"], "ms"),
            "main_over_raw": paired_ratio(samples[transport], samples[f"{transport}_direct"]),
            "difference_ms": summary(
                [b - a for a, b in zip(samples[f"{transport}_direct"], samples[transport], strict=True)], "ms"
            ),
        }
        if samples.get(f"{transport}_minus_model"):
            report[transport]["client_ttft_minus_model_call_ttft_ms"] = summary(
                samples[f"{transport}_minus_model"], "ms"
            )
    return report


# ---- 3. WebSocket capacity ----------------------------------------------------------------------------------------


async def idle_sessions(main: ServiceProcess, sessions: int) -> dict[str, Any]:
    assert main.process is not None
    url = main.url.replace("http", "ws") + "/ws/chat"
    before = main.rss_kib()
    sockets = []
    started = time.perf_counter()
    try:
        for _ in range(sessions):
            sockets.append(await websockets.connect(url))
        opened = time.perf_counter() - started
        await asyncio.sleep(1.0)
        after = main.rss_kib()
        started = time.perf_counter()
        for n, socket in enumerate(sockets):  # every session still answers
            await socket.send(json.dumps({"type": "ping", "id": f"p{n}"}))
        answered = 0
        for socket in sockets:
            answered += json.loads(await asyncio.wait_for(socket.recv(), 30))["type"] == "pong"
        pinged = time.perf_counter() - started
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
    return {
        "sessions": sessions,
        "all_answered_ping": answered == sessions,
        "open_all_s": round(opened, 3),
        "ping_all_s": round(pinged, 3),
        "main_rss_before_mib": round(before / 1024, 1),
        "main_rss_after_mib": round(after / 1024, 1),
        "rss_per_session_kib": round((after - before) / sessions, 1),
    }


async def concurrent_chats(main: ServiceProcess, levels: list[int], batches: int) -> dict[str, Any]:
    url = main.url.replace("http", "ws") + "/ws/chat"

    async def one_turn(socket: Any, n: int) -> tuple[float, float, int, float]:
        first, total, final = await ws_turn(socket, f"c{n}", f"/fast Tell me about rivers ({n})")
        call = final["calls"][0]
        return first or 0.0, total, call["output_tokens"], call["ttft_ms"]

    report: dict[str, Any] = {"max_tokens": MAX_TOKENS * 2, "pool_contexts": POOL_SIZE, "levels": {}}
    sockets = [await websockets.connect(url) for _ in range(max(levels))]
    try:
        counter = 0
        for level in levels:
            ttft, latency, tokens, walls = [], [], 0, []
            for _ in range(max(batches, 8 // level)):  # at least 8 turns per level
                started = time.perf_counter()
                results = await asyncio.gather(*(one_turn(sockets[k], counter + k) for k in range(level)))
                walls.append(time.perf_counter() - started)
                counter += level
                for first, total, produced, _model_ttft in results:
                    ttft.append(first * 1000)
                    latency.append(total * 1000)
                    tokens += produced
            wall = sum(walls)
            report["levels"][str(level)] = {
                "turns": len(ttft),
                "turns_per_s": round(len(ttft) / wall, 2),
                "tokens_per_s": round(tokens / wall, 1),
                "ttft_ms": summary(ttft, "ms"),
                "turn_latency_ms": summary(latency, "ms"),
            }
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
    base = report["levels"][str(levels[0])]["ttft_ms"]["median"]
    for level in levels:
        entry = report["levels"][str(level)]
        entry["queueing_ttft_over_single_ms"] = round(entry["ttft_ms"]["median"] - base, 1)
    return report


def main() -> None:
    quick = bool(os.environ.get("QUICK"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10 if quick else 100, help="transcription pairs")
    parser.add_argument("--rounds", type=int, default=3 if quick else 30, help="TTFT rounds (3 transports each)")
    parser.add_argument("--sessions", type=int, default=50 if quick else 1000, help="idle WebSocket sessions")
    parser.add_argument("--batches", type=int, default=1 if quick else 3, help="batches per concurrency level")
    args = parser.parse_args()
    levels = [1, 2, 4] if quick else [1, 2, 3, 4, 8]
    with tempfile.TemporaryDirectory() as scratch:
        voice = voice_process(Path(scratch) / "voice.log", VOICE_LOG__LEVEL="INFO").start()
        main_service = main_process(
            Path(scratch) / "main.log",
            voice.port,
            COUNCIL_LOG__LEVEL="WARNING",
            COUNCIL_VOICE__WATCH_INTERVAL_S="3600",
            COUNCIL_RATE_LIMIT__ENABLED="false",  # the benchmark's own request rate is not what is measured
            COUNCIL_LLM__MAX_TOKENS=str(MAX_TOKENS),
            COUNCIL_LLM__TEMPERATURE="0",
            COUNCIL_WS__MAX_INFLIGHT_TURNS="8",
        ).start()
        try:
            result: dict[str, Any] = {"transcription_1s": transcription(main_service, voice, args.calls)}
            result["time_to_first_token"] = asyncio.run(time_to_first_token(main_service, args.rounds))
            result["websocket_idle_sessions"] = asyncio.run(idle_sessions(main_service, args.sessions))
            chats = asyncio.run(concurrent_chats(main_service, levels, args.batches))
            chats["max_tokens"] = MAX_TOKENS
            result["websocket_concurrent_chats"] = chats
        finally:
            main_service.stop()
            voice.stop()
    write_result("api_overhead", result)


if __name__ == "__main__":
    main()
