"""What a web page can do to the voice service: nothing. A rebound name gets 400, a page's handshake is refused,
every response forbids framing and sniffing."""

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from tests.conftest import AppClient, engine_free_settings
from voice.security import HostAllowList

REBOUND = {"Host": "rebound.example:8001"}  # a page's own name, pointed at 127.0.0.1 by its DNS (rebinding)


def test_a_request_to_a_foreign_host_is_400_before_any_route(client: TestClient) -> None:
    response = client.get("/v1/models", headers=REBOUND)
    error = response.json()["error"]
    assert response.status_code == 400
    assert error["code"] == "host_not_allowed"
    assert error["request_id"] == response.headers["x-request-id"]
    assert "VOICE_SECURITY__ALLOWED_HOSTS" in error["message"]
    assert response.headers["x-frame-options"] == "DENY"


def test_health_probes_answer_whatever_the_host(client: TestClient) -> None:
    assert client.get("/health/live", headers={"Host": "10.1.2.3:8001"}).status_code == 200


def test_every_response_forbids_framing_sniffing_and_loading(client: TestClient) -> None:
    for response in (client.get("/health/live"), client.get("/v1/nothing-here")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["content-security-policy"].startswith("default-src 'none'")


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://localhost:8001"},
        {"Origin": "https://evil.example"},
        {**REBOUND, "Origin": "http://rebound.example:8001"},
    ],
    ids=["own-name", "other-site", "rebound"],
)
def test_a_web_page_cannot_open_the_realtime_socket(client: TestClient, headers: dict[str, str]) -> None:
    with (
        pytest.raises((WebSocketDisconnect, WebSocketDenialResponse)),
        client.websocket_connect("ws://localhost/v1/realtime", headers=headers) as socket,
    ):
        socket.receive_json()


def test_a_listed_origin_and_a_program_may(app_client: AppClient) -> None:
    client = app_client(engine_free_settings(security={"allowed_origins": ["https://console.example"]}))
    for headers in ({"Origin": "https://console.example"}, {}):
        with client.websocket_connect("ws://localhost/v1/realtime", headers=headers) as socket:
            assert socket.receive_json()["type"] == "session.created"


@pytest.mark.parametrize(
    ("patterns", "name", "allowed"),
    [
        (["localhost"], "localhost", True),
        (["localhost"], "localhost.evil.example", False),
        (["*.example.com"], "voice.example.com", True),
        (["*.example.com"], "example.com.evil.net", False),
        (["::1"], "::1", True),
        (["[::1]"], "::1", True),
        (["*"], "anything", True),
        (["localhost"], None, False),
    ],
)
def test_host_patterns(patterns: list[str], name: str | None, allowed: bool) -> None:
    assert HostAllowList(patterns).allows(name) is allowed
