"""The voice client against a port where nothing listens (real refused connections) and against a stand-in voice
service over real HTTP that answers what a test sets."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from council.errors import VoiceUnavailableError
from council.health import HealthStatus
from council.settings import VoiceClientSettings
from council.voice import VoiceClient, VoiceStatus
from tests.conftest import closed_port
from tests.voice.standin import HEALTHY, VoiceStandIn

pytestmark = pytest.mark.anyio


def unreachable_settings(**overrides: object) -> VoiceClientSettings:
    return VoiceClientSettings.model_validate(
        {"base_url": f"http://127.0.0.1:{closed_port()}", "breaker_failure_threshold": 2, **overrides}
    )


async def test_refused_calls_open_the_breaker_then_fail_fast_with_retry_after() -> None:
    client = VoiceClient(unreachable_settings(retry_attempts=1))
    try:
        for _ in range(2):
            with pytest.raises(VoiceUnavailableError, match="could not be reached"):
                await client.request("GET", "/v1/models")
        assert client.breaker.is_open
        with pytest.raises(VoiceUnavailableError, match="unavailable") as fast_fail:
            await client.request("GET", "/v1/models")
        assert fast_fail.value.status_code == 503
        assert "Retry-After" in fast_fail.value.headers
    finally:
        await client.aclose()


async def test_probe_of_unreachable_service_reports_fail_and_counts_towards_the_breaker() -> None:
    client = VoiceClient(unreachable_settings())
    try:
        status = await client.probe_ready()
        assert status.status is HealthStatus.FAIL
        assert "unreachable" in status.detail
        assert client.breaker.consecutive_failures == 1
    finally:
        await client.aclose()


@pytest.fixture
def standin() -> Iterator[VoiceStandIn]:
    with VoiceStandIn().running() as server:
        yield server


@contextlib.asynccontextmanager
async def watching(client: VoiceClient) -> AsyncIterator[asyncio.Task[None]]:
    watcher = asyncio.create_task(client.watch())
    try:
        yield watcher
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await client.aclose()


type Probes = asyncio.Queue[VoiceStatus | Exception]


def recorded_probes(client: VoiceClient, monkeypatch: pytest.MonkeyPatch, *, bugs: int = 0) -> Probes:
    """What each of the watcher's probes returned or raised, in order; the first `bugs` raise as a bug would."""
    probes: Probes = asyncio.Queue()
    real_probe, made = client.probe_ready, 0

    async def probe(request_id: str | None = None) -> VoiceStatus:
        nonlocal made
        made += 1
        try:
            if made <= bugs:
                raise RuntimeError("a bug, not a voice outage")
            status = await real_probe(request_id)
        except Exception as exc:
            probes.put_nowait(exc)
            raise
        probes.put_nowait(status)
        return status

    monkeypatch.setattr(client, "probe_ready", probe)
    return probes


async def next_status(probes: Probes) -> HealthStatus:
    with anyio.fail_after(10):
        result = await probes.get()
    assert isinstance(result, VoiceStatus), f"the probe raised {result!r}"
    return result.status


@pytest.mark.parametrize("body", [["pass"], "pass", None, 3, {"status": "sideways"}])
async def test_a_readiness_answer_that_is_no_health_object_is_a_failed_probe(
    standin: VoiceStandIn, body: object
) -> None:
    standin.answers["/health/ready"] = body
    client = VoiceClient(VoiceClientSettings.model_validate({"base_url": standin.url}))
    try:
        status = await client.probe_ready()
    finally:
        await client.aclose()

    assert status.status is HealthStatus.FAIL
    assert "invalid readiness answer" in status.detail
    assert client.breaker.consecutive_failures == 1


async def test_the_watcher_lives_through_invalid_answers_and_closes_the_breaker_once_ready(
    standin: VoiceStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin.answers["/health/ready"] = ["not", "an", "object"]
    settings = {"base_url": standin.url, "breaker_failure_threshold": 2, "watch_interval_s": 0.01}
    client = VoiceClient(VoiceClientSettings.model_validate(settings))
    probes = recorded_probes(client, monkeypatch)
    async with watching(client) as watcher:
        assert [await next_status(probes) for _ in range(3)] == [HealthStatus.FAIL] * 3
        assert client.breaker.is_open
        assert not watcher.done()

        standin.answers["/health/ready"] = HEALTHY
        if await next_status(probes) is not HealthStatus.PASS:  # one probe may have been on its way already
            assert await next_status(probes) is HealthStatus.PASS
        assert not client.breaker.is_open


async def test_an_unexpected_error_in_one_probe_does_not_end_the_watcher(
    standin: VoiceStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = VoiceClient(VoiceClientSettings.model_validate({"base_url": standin.url, "watch_interval_s": 0.01}))
    probes = recorded_probes(client, monkeypatch, bugs=2)
    async with watching(client):
        with anyio.fail_after(10):
            outcomes = [await probes.get() for _ in range(3)]

    assert [type(outcome) for outcome in outcomes] == [RuntimeError, RuntimeError, VoiceStatus]
    assert client.last_status.status is HealthStatus.PASS
