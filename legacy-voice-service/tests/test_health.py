"""Liveness and readiness probes: shape, content type, and per-engine checks."""

from fastapi.testclient import TestClient

from voice.health import HEALTH_MEDIA_TYPE


def test_liveness_is_health_json_with_pass(client: TestClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_MEDIA_TYPE
    body = response.json()
    assert body["status"] == "pass"
    assert body["serviceId"] == "hybrid-council-voice"
    assert body["version"]
    assert body["checks"] == {}


def test_readiness_with_no_engine_configured_passes_with_no_checks(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_MEDIA_TYPE
    assert response.json()["checks"] == {}
