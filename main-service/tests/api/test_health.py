"""Liveness and readiness of the main service, in process (the voice service is deliberately absent)."""

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_liveness_passes_in_health_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    body = response.json()
    assert body["status"] == "pass"
    assert body["serviceId"] == "hybrid-council-main"
    assert body["version"]


async def test_readiness_is_warn_not_fail_when_voice_is_unreachable(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "warn"
    (voice_check,) = body["checks"]["voice:ready"]
    assert voice_check["status"] == "warn"
    assert "ConnectError" in voice_check["output"]
