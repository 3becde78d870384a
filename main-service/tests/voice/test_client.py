"""The voice client against a port where nothing listens: real refused connections, no mocks."""

import pytest

from council.errors import VoiceUnavailableError
from council.health import HealthStatus
from council.settings import VoiceClientSettings
from council.voice import VoiceClient
from tests.conftest import closed_port

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
