"""Security headers on every response (500s included); CORS and WebSocket handshakes honour the allow-list."""

from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from council.app import create_app
from council.security import HostAllowList, is_same_origin
from council.settings import Settings
from tests.conftest import app_with_a_bug, client_to

pytestmark = pytest.mark.anyio

# A page of another site whose DNS now points its own name at 127.0.0.1 (DNS rebinding): to the browser the
# requests are same-origin, so they carry that name in both Host and Origin.
REBOUND = {"Host": "rebound.example:8000", "Origin": "http://rebound.example:8000"}


async def test_a_request_to_a_rebound_name_is_400_before_any_route(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/api/conversations", headers=REBOUND),
        await client.post("/api/chat", headers=REBOUND, json={"message": "/fast hi"}),
    ):
        error = response.json()["error"]
        assert response.status_code == 400
        assert error["code"] == "host_not_allowed"
        assert error["request_id"] == response.headers["x-request-id"]
        assert "COUNCIL_SECURITY__ALLOWED_HOSTS" in error["message"]
        assert response.headers["x-frame-options"] == "DENY"


async def test_health_probes_answer_whatever_the_host(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live", headers={"Host": "10.1.2.3:8000"})).status_code == 200


async def test_a_name_added_to_the_allow_list_is_served(settings: Settings) -> None:
    settings.security.allowed_hosts = ["*.council.example"]
    async with client_to(create_app(settings), base_url="http://eu.council.example") as client:
        assert (await client.get("/api/conversations")).status_code == 200
        assert (await client.get("/api/conversations", headers={"Host": "localhost"})).status_code == 400


@pytest.mark.parametrize(
    ("patterns", "name", "allowed"),
    [
        (["localhost"], "localhost", True),
        (["localhost"], "localhost.evil.example", False),
        (["*.example.com"], "council.example.com", True),
        (["*.example.com"], "example.com.evil.net", False),
        (["::1"], "::1", True),
        (["*"], "anything", True),
        (["localhost"], None, False),
    ],
)
def test_host_patterns(patterns: list[str], name: str | None, allowed: bool) -> None:
    assert HostAllowList(patterns).allows(name) is allowed


async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/health/live"), await client.get("/no/such/route")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_cors_allows_listed_origins_only(settings: Settings) -> None:
    settings.security.cors_allow_origins = ["https://app.example"]
    async with client_to(create_app(settings)) as client:
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = await client.options("/health/live", headers={"Origin": "https://app.example", **preflight})
        refused = await client.options("/health/live", headers={"Origin": "https://evil.example", **preflight})
        simple = await client.get("/health/live", headers={"Origin": "https://evil.example"})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_a_500_carries_the_security_and_cors_headers(settings: Settings) -> None:
    settings.security.cors_allow_origins = ["https://app.example"]
    async with client_to(app_with_a_bug(settings), raise_app_exceptions=False) as client:
        response = await client.get("/boom", headers={"Origin": "https://app.example"})

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["access-control-allow-origin"] == "https://app.example"  # a browser can read it
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("https://council.example", "council.example", True),  # TLS ended by a proxy in front: no port in Host
        ("https://council.example", "council.example:443", True),
        ("HTTP://Council.Example", "council.example", True),
        ("http://[::1]:8000", "[::1]:8000", True),
        ("http://127.0.0.1:8001", "127.0.0.1:8000", False),
        ("https://evil.example", "council.example", False),
        ("https://council.example.evil.example", "council.example", False),
        ("http://council.example", "council.example:443", False),
        ("null", "council.example", False),  # sandboxed frames and file:// pages
        ("http://council.example:port", "council.example", False),
        ("https://council.example", None, False),
    ],
)
def test_same_origin_means_the_host_the_socket_was_opened_to(origin: str, host: str | None, same: bool) -> None:
    assert is_same_origin(origin, host) is same


@pytest.fixture
def ws_client(settings: Settings) -> Iterator[TestClient]:
    settings.security.cors_allow_origins = ["https://app.example"]
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


@pytest.mark.parametrize("path", ["/ws/chat", "/ws/voice"])
def test_a_socket_from_another_site_is_refused_with_1008(ws_client: TestClient, path: str) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        ws_client.websocket_connect(f"ws://localhost{path}", headers={"Origin": "https://evil.example"}),
    ):
        pass
    assert refused.value.code == 1008


@pytest.mark.parametrize("path", ["/ws/chat", "/ws/voice"])
def test_a_socket_through_a_rebound_name_is_refused_though_its_origin_matches_its_host(
    ws_client: TestClient, path: str
) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        ws_client.websocket_connect(f"ws://localhost{path}", headers=REBOUND),
    ):
        pass
    assert refused.value.code == 1008


@pytest.mark.parametrize("path", ["/ws/chat", "/ws/voice"])
@pytest.mark.parametrize(
    "origin",
    [None, "http://localhost", "https://app.example"],
    ids=["no-origin-not-a-browser", "same-origin", "allow-listed"],
)
def test_a_socket_from_this_origin_an_allowed_one_or_no_browser_is_accepted(
    ws_client: TestClient, path: str, origin: str | None
) -> None:
    headers = {"Origin": origin} if origin else {}
    with ws_client.websocket_connect(f"ws://localhost{path}", headers=headers) as socket:
        if path == "/ws/chat":
            socket.send_json({"type": "ping", "id": "p"})
            assert socket.receive_json() == {"type": "pong", "id": "p"}
        else:  # accepted: no voice service runs here, so the socket says so before closing with 1013
            assert socket.receive_json()["code"] == "voice_unavailable"
