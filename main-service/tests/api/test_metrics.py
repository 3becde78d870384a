"""Prometheus metrics: request counts by route template and the voice breaker state."""

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/health/live")
    await client.get("/health/live")
    await client.get("/no/such/route")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'council_http_requests_total{method="GET",route="/health/live",status="200"} 2.0' in text
    assert 'council_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text


async def test_metrics_show_the_voice_breaker(client: httpx.AsyncClient) -> None:
    # The conftest points the voice client at a closed port, so a few readiness probes open the breaker.
    for _ in range(3):
        await client.get("/health/ready")
    assert "council_voice_breaker_open 1.0" in (await client.get("/metrics")).text


async def test_metrics_time_turns_and_model_calls(client: httpx.AsyncClient) -> None:
    await client.post("/api/chat", json={"message": "/fast Hello"})
    text = (await client.get("/metrics")).text
    assert 'council_turn_duration_seconds_count{path="fast"} 1.0' in text
    assert "council_llm_call_duration_seconds_count{" in text
