"""Faults with real processes and real signals: a private Redis paused and killed, the LLM server killed mid-stream,
the voice service killed while a text turn streams.

Every wait is bounded; every process a test starts it also stops (by its own Popen handle).
"""

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from conftest import ServiceProcess, StartService
from servicekit import MAIN_PYTHON, free_port

# ---------------------------------------------------------------- helpers


def _redis_answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
        sock.settimeout(0.5)
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
    return False


@contextlib.contextmanager
def private_redis(port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A redis-server of this test only, on its own port, with no persistence."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 10
            while not _redis_answers(port):
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "redis-server did not answer PING within 10 s"
                time.sleep(0.05)
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)
            process.kill()
            process.wait(timeout=10)


def _pheromind(main: ServiceProcess) -> dict[str, Any]:
    body = httpx.get(f"{main.url}/health/ready", timeout=10).json()
    check: dict[str, Any] = body["checks"]["pheromind"][0]
    return check


def _wait_pheromind(main: ServiceProcess, status: str, timeout_s: float) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    while True:
        check = _pheromind(main)
        elapsed = time.monotonic() - started
        if check["status"] == status or elapsed > timeout_s:
            return check, elapsed
        time.sleep(0.2)


def _chat(main: ServiceProcess, text: str) -> httpx.Response:
    return httpx.post(f"{main.url}/api/chat", json={"message": f"/fast {text}"}, timeout=60)


# ---------------------------------------------------------------- Redis paused, killed, back


def test_redis_paused_then_killed_degrades_without_5xx_and_recovers_in_place(
    start_main: StartService, tmp_path: Path
) -> None:
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    statuses: list[int] = []
    with private_redis(port, tmp_path / "redis.log") as redis:
        main = start_main(
            free_port(),  # no voice service: not needed here (its check is only `warn`)
            COUNCIL_PHEROMIND__BACKEND="redis",
            COUNCIL_PHEROMIND__REDIS_URL=redis_url,
            COUNCIL_PHEROMIND__RETRY_AFTER_S="1",
            COUNCIL_RATE_LIMIT__REDIS_URL=redis_url,
            COUNCIL_RATE_LIMIT__KIP="3/minute",
            COUNCIL_LLM__MAX_TOKENS="8",
            COUNCIL_LLM__POOL_SIZE="1",
        )
        healthy = _pheromind(main)
        assert healthy["status"] == "pass", healthy
        assert healthy["backend"] == "redis"
        for i in range(3):
            response = _chat(main, f"Healthy turn {i}: name a colour.")
            statuses.append(response.status_code)
            assert response.status_code == 200, response.text
        # The buckets and trails really are in Redis.
        keys = subprocess.run(
            ["redis-cli", "-p", str(port), "--scan"], capture_output=True, text=True, timeout=10
        ).stdout.split()
        assert any(key.startswith("council:pheromind:") for key in keys), keys
        assert any(key.startswith("council-rl") for key in keys), keys

        # Paused: connections are accepted but never answered; every call must give up after its timeout.
        redis.send_signal(signal.SIGSTOP)
        paused_s: list[float] = []
        try:
            for i in range(3):
                started = time.monotonic()
                response = _chat(main, f"Paused turn {i}: name a fruit.")
                paused_s.append(time.monotonic() - started)
                statuses.append(response.status_code)
                assert response.status_code == 200, response.text
                assert paused_s[-1] < 30
            paused_check, _ = _wait_pheromind(main, "warn", timeout_s=5)
            assert paused_check["status"] == "warn", paused_check
        finally:
            redis.send_signal(signal.SIGCONT)

        # Killed: connection refused.
        redis.kill()
        redis.wait(timeout=10)
        for i in range(3):
            response = _chat(main, f"Killed turn {i}: name an animal.")
            statuses.append(response.status_code)
            assert response.status_code == 200, response.text
        killed_check, warn_after = _wait_pheromind(main, "warn", timeout_s=5)
        assert killed_check["status"] == "warn", killed_check  # degraded, never `fail`
        assert "degraded" in killed_check["output"]
        ready = httpx.get(f"{main.url}/health/ready", timeout=10)
        assert ready.status_code == 200  # a non-critical check cannot make the service unready

        # Rate limiting still answers from in-process buckets: 3/minute on KIP, the 4th is refused.
        kip = [
            httpx.get(f"{main.url}/api/kip/knowledge", headers={"X-API-Key": "fault-test"}, timeout=10)
            for _ in range(4)
        ]
        statuses.extend(r.status_code for r in kip)
        assert [r.status_code for r in kip[:3]] == [200, 200, 200], [r.text for r in kip]
        assert kip[3].status_code == 429
        assert int(kip[3].headers["Retry-After"]) >= 1

    # Redis back on the same port (empty: no persistence); main is not restarted.
    with private_redis(port, tmp_path / "redis.log"):
        recovered, took = _wait_pheromind(main, "pass", timeout_s=10)
        assert recovered["status"] == "pass", recovered
        for i in range(2):
            response = _chat(main, f"Recovered turn {i}: name a river.")
            statuses.append(response.status_code)
            assert response.status_code == 200, response.text
        # The rate limiter leaves a failed store alone for STORE_RETRY_S (5 s), then uses Redis again.
        deadline = time.monotonic() + 15
        keys: list[str] = []
        while not any(key.startswith("council-rl") for key in keys) and time.monotonic() < deadline:
            statuses.append(httpx.get(f"{main.url}/api/conversations", timeout=10).status_code)
            keys = subprocess.run(
                ["redis-cli", "-p", str(port), "--scan"], capture_output=True, text=True, timeout=10
            ).stdout.split()
            time.sleep(0.5)
        assert any(key.startswith("council-rl") for key in keys), keys  # rate limits use Redis again

    events = [line["event"] for line in main.log_lines()]
    assert "pheromind_degraded" in events
    assert "pheromind_recovered" in events
    assert "rate_limit_store_unavailable" in events
    assert "rate_limit_store_recovered" in events
    assert not [code for code in statuses if code >= 500]
    print(
        f"redis fault: {len(statuses)} requests, statuses {sorted(Counter(statuses).items())}, paused turns "
        f"{[round(s, 2) for s in paused_s]} s, warn after kill {warn_after:.1f} s, recovery {took:.1f} s"
    )


# ---------------------------------------------------------------- LLM server killed mid-stream


@contextlib.contextmanager
def llama_server(port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """llama-cpp-python's OpenAI-compatible server with the bundled SmolLM2 GGUF, as in main-service/tests/llm."""
    model = subprocess.run(
        [str(MAIN_PYTHON), "-c", "from council.llm.embedded import bundled_gguf; print(bundled_gguf())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    args = ["-m", "llama_cpp.server", "--model", model, "--model_alias", "smollm2", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--n_ctx", "1024", "--n_threads", "1"]
    with log_path.open("ab") as log:
        process = subprocess.Popen([str(MAIN_PYTHON), *args], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log_path.read_text()[-2000:]
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                        break
                assert time.monotonic() < deadline, "llama_cpp.server not ready within 60 s"
                time.sleep(0.1)
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def _events_until_end(socket: ClientConnection, turn: str, timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    events: list[dict[str, Any]] = []
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"turn {turn} did not end within {timeout_s} s: {events[-5:]}"
        event = json.loads(socket.recv(timeout=remaining))
        events.append(event)
        if event.get("id") == turn and event["type"] in ("final", "error", "cancelled"):
            return events


def test_llm_server_killed_mid_stream_ends_the_turn_with_error_and_the_socket_lives_on(
    start_main: StartService, tmp_path: Path
) -> None:
    port = free_port()
    with llama_server(port, tmp_path / "llama.log") as server:
        main = start_main(
            free_port(),
            COUNCIL_LLM__BACKEND="openai",
            COUNCIL_LLM__BASE_URL=f"http://127.0.0.1:{port}/v1",
            COUNCIL_LLM__MODEL="smollm2",
            COUNCIL_LLM__MAX_TOKENS="400",
            COUNCIL_LLM__READ_TIMEOUT_S="20",
            COUNCIL_PHEROMIND__CACHE_ANSWERS="false",
        )
        with connect(main.url.replace("http", "ws") + "/ws/chat", open_timeout=10) as ws:
            long_question = "/fast Write a very long, detailed story about a dragon who learns to cook."
            ws.send(json.dumps({"type": "message", "id": "t1", "text": long_question}))
            deltas: list[dict[str, Any]] = []
            deadline = time.monotonic() + 60
            while not deltas:
                event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                assert event["type"] not in ("final", "error"), event
                if event["type"].endswith(".delta"):
                    deltas.append(event)
            server.kill()  # SIGKILL after the first streamed token
            server.wait(timeout=10)
            killed_at = time.monotonic()
            events = _events_until_end(ws, "t1", timeout_s=30)
            ended_after = time.monotonic() - killed_at

            end = events[-1]
            assert end["type"] == "error", events[-3:]
            assert end["id"] == "t1"
            assert end["code"] == "model_unavailable", end
            assert not [e for e in events if e["type"] == "final"]
            assert ended_after < 25  # not a hang until a read timeout far away

            ws.send(json.dumps({"type": "ping", "id": "p1"}))
            assert json.loads(ws.recv(timeout=10)) == {"type": "pong", "id": "p1"}

            # The server returns on the same port; the same socket's next turn works.
            with llama_server(port, tmp_path / "llama.log"):
                ws.send(json.dumps({"type": "message", "id": "t2", "text": "/fast Say hello."}))
                after = _events_until_end(ws, "t2", timeout_s=60)
                assert after[-1]["type"] == "final", after[-3:]
                assert after[-1]["answer"]
    print(f"llm fault: {len(deltas)} delta(s) before the kill; turn ended {ended_after:.2f} s after it: {end}")


def test_voice_killed_while_a_text_turn_streams_leaves_the_turn_whole(
    start_voice: StartService, start_main: StartService
) -> None:
    voice = start_voice()
    main = start_main(voice, COUNCIL_VOICE__WATCH_INTERVAL_S="0.5", COUNCIL_LLM__MAX_TOKENS="120")
    with connect(main.url.replace("http", "ws") + "/ws/chat", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "message", "id": "t1", "text": "/fast Tell me a short story about a lighthouse."}))
        first: list[dict[str, Any]] = []
        while not first:
            event = json.loads(ws.recv(timeout=60))
            assert event["type"] not in ("final", "error"), event
            if event["type"].endswith(".delta"):
                first.append(event)
        voice.stop(signal.SIGKILL)  # mid-stream: text chat must not notice
        events = _events_until_end(ws, "t1", timeout_s=60)
        assert events[-1]["type"] == "final", events[-3:]
        assert events[-1]["answer"]

        ws.send(json.dumps({"type": "message", "id": "t2", "text": "/fast And one more sentence?"}))
        after = _events_until_end(ws, "t2", timeout_s=60)
        assert after[-1]["type"] == "final", after[-3:]
    ready = httpx.get(f"{main.url}/health/ready", timeout=10)
    assert ready.status_code == 200  # voice down is `warn`, never `fail`


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-s"]))
