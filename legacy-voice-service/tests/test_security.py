"""What a web page can do to the voice service: nothing. A rebound name gets 400, a page's handshake and its
state-changing requests are refused, every response forbids framing and sniffing."""

import json

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from tests.api.test_bad_input import wav
from tests.conftest import AppClient, Server, engine_free_settings
from voice.origins import HostAllowList

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
    for headers in ({"Origin": "https://console.example"}, {"Origin": "http://localhost"}, {}):  # listed, own
        with client.websocket_connect("ws://localhost/v1/realtime", headers=headers) as socket:
            assert socket.receive_json()["type"] == "session.created"


CROSS_SITE = [
    ("POST", "/v1/audio/transcriptions", {"Origin": "https://evil.example"}),
    ("POST", "/v1/audio/vad", {"Origin": "null"}),  # a sandboxed frame or a file:// page
    ("POST", "/v1/audio/speech", {"Origin": "http://localhost:8001"}),  # another port of this name: another origin
    ("POST", "/v1/audio/transcriptions", {"Sec-Fetch-Site": "cross-site"}),
    ("POST", "/v1/audio/transcriptions", {"Sec-Fetch-Site": "same-site"}),  # a sibling name: another origin
    ("POST", "/v1/audio/vad", {"Origin": "http://localhost", "Sec-Fetch-Site": "cross-site"}),  # not this page
    ("PUT", "/v1/models", {"Origin": "https://evil.example"}),
    ("PATCH", "/v1/models", {"Origin": "https://evil.example"}),
    ("DELETE", "/v1/models", {"Origin": "https://evil.example"}),
]


@pytest.mark.parametrize(("method", "path", "headers"), CROSS_SITE)
def test_a_foreign_page_cannot_change_anything(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    # A multipart or form post needs no preflight: without this check any page could post one here.
    response = client.request(method, path, headers=headers, files={"file": ("a.wav", b"RIFF")})
    error = response.json()["error"]
    assert response.status_code == 403, response.text
    assert error["code"] == "origin_not_allowed"
    assert error["request_id"] == response.headers["x-request-id"]
    assert "VOICE_SECURITY__ALLOWED_ORIGINS" in error["message"]


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("POST", {}),  # programs: the main service, curl, SDKs
        ("POST", {"Origin": "https://console.example", "Sec-Fetch-Site": "cross-site"}),  # listed
        ("POST", {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}),  # this service's own /docs page
        ("POST", {"Sec-Fetch-Site": "same-origin"}),
        ("POST", {"Sec-Fetch-Site": "none"}),  # typed into the address bar
        ("GET", {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}),  # reading changes nothing
    ],
)
def test_programs_listed_origins_and_this_origin_may(
    app_client: AppClient, method: str, headers: dict[str, str]
) -> None:
    client = app_client(engine_free_settings(security={"allowed_origins": ["https://console.example"]}))
    path = "/v1/audio/vad" if method == "POST" else "/v1/models"
    plain = client.request(method, path, files={"file": ("a.wav", b"RIFF")} if method == "POST" else None)
    response = client.request(
        method, path, headers=headers, files={"file": ("a.wav", b"RIFF")} if method == "POST" else None
    )
    assert response.status_code != 403, response.text
    assert (response.status_code, response.json().get("error", {}).get("code")) == (
        plain.status_code,
        plain.json().get("error", {}).get("code"),
    )


def test_the_real_service_refuses_a_foreign_pages_upload_and_logs_it(server: Server) -> None:
    upload = {"file": ("a.wav", wav(1.0))}
    url = f"{server.url}/v1/audio/transcriptions"
    assert httpx.post(url, data={"model": "whisper-1"}, files=upload, headers=server.headers).status_code == 200
    page = {**server.headers, "Origin": "https://evil.example", "X-Request-ID": "req-cross-site"}
    response = httpx.post(url, data={"model": "whisper-1"}, files=upload, headers=page)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "origin_not_allowed"
    refused = [json.loads(line) for line in server.log_path.read_text().splitlines() if '"cross_site_refused"' in line]
    assert any(
        entry["request_id"] == "req-cross-site" and entry["origin"] == "https://evil.example" for entry in refused
    )


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
