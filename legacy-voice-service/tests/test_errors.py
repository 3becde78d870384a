"""The one error shape for the framework's own refusals and for an unexpected exception."""

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import AppClient, engine_free_settings


def error_of(body: Any) -> dict[str, Any]:
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["message"]
    return error


def test_unknown_route_is_404_not_found(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert error_of(response.json())["code"] == "not_found"


def test_malformed_json_is_400_invalid_json(client: TestClient) -> None:
    response = client.post("/v1/audio/speech", content=b'{"input": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert error_of(response.json())["code"] == "invalid_json"


def test_wrong_method_is_405(client: TestClient) -> None:
    response = client.get("/v1/audio/speech")
    assert response.status_code == 405
    assert error_of(response.json())["code"] == "method_not_allowed"


def test_oversize_body_is_413_naming_the_setting(app_client: AppClient) -> None:
    small = app_client(engine_free_settings(limits={"max_body_bytes": 2048}))
    response = small.post("/v1/audio/transcriptions", files={"file": ("a.wav", b"\0" * 4096)})
    assert response.status_code == 413
    error = error_of(response.json())
    assert error["code"] == "payload_too_large"
    assert "VOICE_LIMITS__MAX_BODY_BYTES" in error["message"]


def test_unexpected_exception_is_a_logged_500_without_details(client: TestClient) -> None:
    async def explode() -> None:
        raise RuntimeError("secret internals")

    client.app.add_api_route("/explode", explode)  # type: ignore[attr-defined]
    response = client.get("/explode", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    error = error_of(response.json())
    assert error == {"code": "internal_error", "message": "An unexpected error occurred.", "request_id": "boom-1"}
    assert response.headers["X-Request-ID"] == "boom-1"


def test_a_disabled_capability_says_how_to_enable_it(client: TestClient) -> None:
    response = client.post("/v1/audio/speech", json={"input": "hi", "voice": "en_US-joe-medium"})
    assert response.status_code == 404
    assert "VOICE_TTS__ENABLED" in error_of(response.json())["message"]
