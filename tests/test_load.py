"""Bounded load on loopback: many idle chat sockets, a REST burst, transcription jobs beyond the voice queue.

Counts are printed (`-s`) and recorded in docs/reliability.md.
"""

import asyncio
import io
import json
import math
import time
import uuid
import wave
from collections import Counter

import httpx
import pytest
from websockets.asyncio.client import connect

from conftest import ServiceProcess, StartService
from servicekit import free_port

SOCKETS = 200
IDLE_S = 3.0
CONVERSATION_LIMIT = 100  # COUNCIL_RATE_LIMIT__DEFAULT of the loaded main service, per client and minute
API_KEY = "load-test-key"  # the admin key: a configured key earns its caller a bucket of its own
CLIENT_KEYS = {f"client{n}": f"load-test-client-key-{n}" for n in range(SOCKETS)}  # one per socket: 200 users


def client_address(n: int) -> str:
    """A loopback address of its own for client n (Linux routes all of 127.0.0.0/8 to lo): one IP, one client."""
    return f"127.1.{n // 250}.{n % 250 + 1}"


@pytest.fixture(scope="module")
def loaded_main(start_main_module: StartService) -> ServiceProcess:
    # No voice service (its readiness check is only `warn`); a small default limit to see 429s where they belong.
    return start_main_module(
        free_port(),
        COUNCIL_AUTH__API_KEY=API_KEY,
        COUNCIL_AUTH__CLIENT_KEYS=json.dumps(CLIENT_KEYS),
        COUNCIL_RATE_LIMIT__DEFAULT=f"{CONVERSATION_LIMIT}/minute",
        COUNCIL_LLM__POOL_SIZE="1",
        COUNCIL_WS__PING_INTERVAL_S="1",  # protocol heartbeats run while the sockets sit idle
    )


def test_200_idle_chat_sockets_all_answer_their_pings(loaded_main: ServiceProcess) -> None:
    url = loaded_main.url.replace("http", "ws") + "/ws/chat"

    async def session(n: int, opened: asyncio.Event, release: asyncio.Event, counts: Counter[str]) -> None:
        # Each socket is its own client, as many users would be: a key of its own, from an address of its own.
        key = {"X-API-Key": CLIENT_KEYS[f"client{n}"]}
        async with connect(url, open_timeout=20, local_addr=(client_address(n), 0), additional_headers=key) as ws:
            counts["opened"] += 1
            if counts["opened"] == SOCKETS:
                opened.set()
            await asyncio.wait_for(release.wait(), 30)  # all sockets open at the same time
            await asyncio.sleep(IDLE_S)  # idle through several server heartbeats (a dead peer would be dropped)
            for round_ in range(2):
                await ws.send(json.dumps({"type": "ping", "id": f"{n}-{round_}"}))
                counts["pings"] += 1
                reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if reply == {"type": "pong", "id": f"{n}-{round_}"}:
                    counts["pongs"] += 1

    async def run() -> tuple[Counter[str], list[BaseException | None], float]:
        counts: Counter[str] = Counter()
        opened, release = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(session(n, opened, release, counts)) for n in range(SOCKETS)]
        started = time.monotonic()
        await asyncio.wait([asyncio.create_task(opened.wait()), *tasks], timeout=30, return_when="FIRST_COMPLETED")
        release.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 40)
        return counts, [r if isinstance(r, BaseException) else None for r in results], time.monotonic() - started

    counts, errors, took = asyncio.run(run())
    failures = [repr(e) for e in errors if e is not None]
    print(f"ws load: {counts['opened']} opened, {counts['pings']} pings, {counts['pongs']} pongs in {took:.1f} s")
    assert not failures, failures[:5]
    assert counts["opened"] == SOCKETS
    assert counts["pongs"] == counts["pings"] == 2 * SOCKETS
    assert httpx.get(f"{loaded_main.url}/health/live", timeout=5).status_code == 200
    events = Counter(line.get("event") for line in loaded_main.log_lines())
    assert events["websocket_opened"] >= SOCKETS
    assert events["websocket_closed_by_server"] == 0  # nobody dropped while idle through the heartbeats


def test_rest_burst_has_no_5xx_and_429_only_past_the_limit(loaded_main: ServiceProcess) -> None:
    key = {"X-API-Key": API_KEY}  # the admin's bucket: fresh, since the socket test used the clients' buckets
    paths = [f"/api/conversations/{uuid.uuid4()}" for _ in range(120)] + ["/api/conversations"] * 30
    paths += ["/health/live"] * 100 + ["/health/ready"] * 50  # probes are exempt from rate limits

    async def run() -> list[tuple[str, httpx.Response | Exception]]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=loaded_main.url, headers=key, timeout=30, limits=limits) as client:

            async def one(path: str) -> tuple[str, httpx.Response | Exception]:
                try:
                    return path, await client.get(path)
                except httpx.HTTPError as error:
                    return path, error

            return await asyncio.gather(*(one(path) for path in paths))

    started = time.monotonic()
    results = asyncio.run(run())
    took = time.monotonic() - started
    lost = [(p, r) for p, r in results if isinstance(r, Exception)]
    responses = [(p, r) for p, r in results if isinstance(r, httpx.Response)]
    by_class = Counter((p.startswith("/health"), r.status_code) for p, r in responses)
    print(f"rest burst: {len(paths)} sent, {len(lost)} lost, statuses {dict(by_class)} in {took:.1f} s")

    assert not lost, lost[:3]
    assert not [r for _, r in responses if r.status_code >= 500]
    health = [r for p, r in responses if p.startswith("/health")]
    api = [r for p, r in responses if not p.startswith("/health")]
    assert all(r.status_code == 200 for r in health)
    limited = [r for r in api if r.status_code == 429]
    assert len(api) - len(limited) == CONVERSATION_LIMIT  # exactly the limit gets through, the rest is refused
    assert all(r.status_code in (200, 404) for r in api if r.status_code != 429)
    assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)
    assert all(r.json()["error"]["code"] == "rate_limited" for r in limited)


# ---------------------------------------------------------------- voice queue


def _tone_wav(seconds: float) -> bytes:
    """A 16 kHz mono tone with a slow warble, so that transcription does real work (VAD filter off)."""
    rate = 16_000
    frames = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        sample = int(8000 * math.sin(2 * math.pi * (220 + 80 * math.sin(2 * math.pi * 3 * t)) * t))
        frames += sample.to_bytes(2, "little", signed=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buffer.getvalue()


QUEUED = 2
JOBS = 12
RSS_BOUND_KB = 64 * 1024  # after the burst RSS is at most the warm baseline + 64 MiB


def test_transcriptions_beyond_the_voice_queue_get_429_and_memory_returns(
    start_voice: StartService, start_main: StartService
) -> None:
    voice = start_voice(
        VOICE_LIMITS__MAX_CONCURRENT_JOBS="1",
        VOICE_LIMITS__MAX_QUEUED_JOBS=str(QUEUED),
        VOICE_LIMITS__RETRY_AFTER_SECONDS="3",
        VOICE_STT__VAD_FILTER="false",
        VOICE_STT__CPU_THREADS="1",
        VOICE_TTS__ENABLED="false",
    )
    assert voice.process is not None
    audio = _tone_wav(4.0)
    url = f"{voice.url}/v1/audio/transcriptions"

    def transcribe_once() -> httpx.Response:
        return httpx.post(url, files={"file": ("tone.wav", audio, "audio/wav")}, timeout=60)

    assert transcribe_once().status_code == 200  # warm: the engine's first run allocates its buffers
    assert transcribe_once().status_code == 200
    baseline = voice.rss_kib()

    async def burst(target: str) -> list[httpx.Response | Exception]:
        async with httpx.AsyncClient(timeout=90) as client:

            async def one() -> httpx.Response | Exception:
                try:
                    return await client.post(target, files={"file": ("tone.wav", audio, "audio/wav")})
                except httpx.HTTPError as error:
                    return error

            return await asyncio.gather(*(one() for _ in range(JOBS)))

    started = time.monotonic()
    results = asyncio.run(burst(url))
    took = time.monotonic() - started
    lost = [r for r in results if isinstance(r, Exception)]
    responses = [r for r in results if isinstance(r, httpx.Response)]
    statuses = Counter(r.status_code for r in responses)
    peak = voice.rss_kib()

    # Afterwards: still serving, and memory back near the baseline (bounded wait).
    after = transcribe_once()
    deadline = time.monotonic() + 10
    rss = voice.rss_kib()
    while rss > baseline + RSS_BOUND_KB and time.monotonic() < deadline:
        time.sleep(0.5)
        rss = voice.rss_kib()
    print(
        f"voice queue: {JOBS} sent, {len(lost)} lost, statuses {dict(statuses)} in {took:.1f} s; "
        f"RSS baseline {baseline // 1024} MiB, after burst {peak // 1024} MiB, settled {rss // 1024} MiB"
    )

    assert not lost, lost[:3]
    assert not [r for r in responses if r.status_code >= 500], [r.text for r in responses if r.status_code >= 500]
    assert set(statuses) <= {200, 429}
    assert statuses[429] >= 1
    # One runs, QUEUED wait: at least that many were served, and every refusal says when to retry.
    assert statuses[200] >= 1 + QUEUED
    refused = [r for r in responses if r.status_code == 429]
    assert all(r.headers["Retry-After"] == "3" for r in refused)
    assert after.status_code == 200
    assert voice.process.poll() is None
    assert rss <= baseline + RSS_BOUND_KB, (baseline, rss)

    # The same burst through the main service's proxy: the voice 429s pass through with their Retry-After,
    # they do not count against the breaker, and no 5xx appears.
    main = start_main(voice, COUNCIL_RATE_LIMIT__VOICE="1000/minute")
    proxied = asyncio.run(burst(f"{main.url}/api/voice/transcribe"))
    proxied_lost = [r for r in proxied if isinstance(r, Exception)]
    proxied_statuses = Counter(r.status_code for r in proxied if isinstance(r, httpx.Response))
    print(f"voice queue via main: {JOBS} sent, {len(proxied_lost)} lost, statuses {dict(proxied_statuses)}")
    assert not proxied_lost, proxied_lost[:3]
    assert set(proxied_statuses) <= {200, 429}
    assert proxied_statuses[429] >= 1
    assert all(
        r.headers["Retry-After"] == "3" for r in proxied if isinstance(r, httpx.Response) and r.status_code == 429
    )
    (voice_check,) = httpx.get(f"{main.url}/health/ready", timeout=10).json()["checks"]["voice:ready"]
    assert voice_check["breaker"] == "closed"
    files = {"file": ("tone.wav", audio, "audio/wav")}
    assert httpx.post(f"{main.url}/api/voice/transcribe", files=files, timeout=60).status_code == 200
