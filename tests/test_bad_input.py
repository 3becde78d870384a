"""Caller mistakes over real HTTP get a 4xx in each service's one error shape, with the request ID."""

import httpx
import pytest

from conftest import ServiceProcess, StartService


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("service_name", ["voice", "main"])
def test_unknown_route_is_404(service_name: str, request: pytest.FixtureRequest) -> None:
    service: ServiceProcess = request.getfixturevalue(service_name)
    assert_error(httpx.get(f"{service.url}/definitely/not/here"), 404, "not_found")


def test_oversize_body_is_413_naming_the_setting(start_voice: StartService, start_main: StartService) -> None:
    voice = start_voice(VOICE_LIMITS__MAX_BODY_BYTES="4096")
    main = start_main(voice, COUNCIL_LIMITS__MAX_BODY_BYTES="4096")

    for service, setting in ((voice, "VOICE_LIMITS__MAX_BODY_BYTES"), (main, "COUNCIL_LIMITS__MAX_BODY_BYTES")):
        response = httpx.post(f"{service.url}/health/live", content=b"x" * 8192)
        assert_error(response, 413, "payload_too_large")
        assert setting in response.json()["error"]["message"]


@pytest.mark.parametrize(("service_name", "path"), [("main", "/api/chat"), ("voice", "/v1/audio/speech")])
def test_malformed_json_is_400(service_name: str, path: str, request: pytest.FixtureRequest) -> None:
    service: ServiceProcess = request.getfixturevalue(service_name)
    response = httpx.post(
        f"{service.url}{path}", content=b'{"message": "unterminated', headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "invalid_json")
