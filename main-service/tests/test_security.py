"""Security headers on every response (500s included); CORS, WebSocket handshakes and state-changing requests honour
the allow-list."""

import json
from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from council.app import create_app
from council.origins import HostAllowList, is_same_origin
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


async def test_the_page_may_connect_to_its_own_origin_only(client: httpx.AsyncClient) -> None:
    # `'self'` covers the page's own ws:/wss: (CSP 3); a bare `ws:` or `wss:` would allow a socket to any host.
    header = (await client.get("/")).headers["content-security-policy"]
    policy = dict(directive.strip().split(" ", 1) for directive in header.split(";"))
    assert policy["connect-src"] == "'self'"


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


# What a page of another site can make a browser send without a preflight, and what else marks it as another site's.
FOREIGN = [
    pytest.param("POST", "/api/voice/transcribe", {"Origin": "https://evil.example"}, "multipart", id="multipart-post"),
    pytest.param("POST", "/api/kip/treasury/mint", {"Origin": "https://evil.example"}, "form", id="form-post"),
    pytest.param("POST", "/api/kip/treasury/mint", {"Sec-Fetch-Site": "cross-site"}, "json", id="cross-site-json"),
    pytest.param("POST", "/api/kip/treasury/mint", {"Origin": "null"}, "form", id="sandboxed-frame-or-file-page"),
    pytest.param(
        "POST",
        "/api/kip/treasury/mint",
        {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site"},
        "form",
        id="another-app-on-this-machine",
    ),
    pytest.param("POST", "/api/kip/treasury/mint", {"Sec-Fetch-Site": "same-site"}, "json", id="same-site-no-origin"),
    pytest.param(
        "POST",
        "/api/kip/treasury/mint",
        {"Origin": "http://localhost", "Sec-Fetch-Site": "cross-site"},
        "json",
        id="cross-site-claiming-this-origin",
    ),
    pytest.param("DELETE", "/api/conversations/t1", {"Origin": "https://evil.example"}, None, id="delete"),
    pytest.param("PATCH", "/api/kip/agents/a1", {"Origin": "https://evil.example"}, "json", id="patch"),
    pytest.param("PUT", "/api/kip/agents/a1", {"Origin": "https://evil.example"}, "json", id="put"),
]


def body(kind: str | None) -> dict[str, object]:
    if kind == "multipart":
        return {"files": {"file": ("hello.wav", b"RIFF....WAVE", "audio/wav")}}
    if kind == "form":
        return {"data": {"amount": "5"}}
    return {"json": {"amount": 5}} if kind == "json" else {}


@pytest.mark.parametrize(("method", "path", "headers", "kind"), FOREIGN)
async def test_a_state_changing_request_from_another_sites_page_is_refused_with_403(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], kind: str | None
) -> None:
    response = await client.request(method, path, headers=headers, **body(kind))  # type: ignore[arg-type]

    error = response.json()["error"]
    assert response.status_code == 403, response.text
    assert error["code"] == "origin_not_allowed"
    assert error["request_id"] == response.headers["x-request-id"]
    assert "COUNCIL_SECURITY__CORS_ALLOW_ORIGINS" in error["message"]
    treasury = (await client.get("/api/kip/treasury")).json()
    assert treasury["supply"] == 0, "the refused request changed nothing"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="a-program-curl-or-an-sdk"),
        pytest.param({"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}, id="this-origin"),
        pytest.param({"Origin": "https://app.example", "Sec-Fetch-Site": "cross-site"}, id="allow-listed-origin"),
        pytest.param({"Origin": "https://app.example", "Sec-Fetch-Site": "same-site"}, id="allow-listed-sibling"),
        pytest.param({"Sec-Fetch-Site": "none"}, id="typed-by-the-user"),
    ],
)
async def test_programs_this_origin_and_listed_origins_may_change_state(
    settings: Settings, headers: dict[str, str]
) -> None:
    settings.security.cors_allow_origins = ["https://app.example"]
    async with client_to(create_app(settings)) as client:
        minted = await client.post("/api/kip/treasury/mint", json={"amount": 5}, headers=headers)
    assert minted.status_code == 201, minted.text


async def test_reading_from_another_sites_page_is_left_to_cors(client: httpx.AsyncClient) -> None:
    foreign = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    response = await client.get("/api/kip/treasury", headers=foreign)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers  # the page cannot read it


async def test_a_refused_request_is_logged_and_spends_nobodys_rate_limit(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    settings.rate_limit.kip = "2/minute"
    foreign = {"Origin": "https://evil.example", "X-Request-ID": "forged-1"}
    async with client_to(create_app(settings)) as client:
        refused = [await client.post("/api/kip/treasury/mint", data={"amount": "5"}, headers=foreign) for _ in range(3)]
        mine = [await client.post("/api/kip/treasury/mint", json={"amount": 5}) for _ in range(2)]

    assert [response.status_code for response in refused] == [403] * 3
    assert [response.status_code for response in mine] == [201] * 2  # the page used none of the local user's limit
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    logged = next(line for line in lines if line["event"] == "cross_site_refused")
    assert (logged["request_id"], logged["origin"], logged["path"]) == (
        "forged-1",
        "https://evil.example",
        "/api/kip/treasury/mint",
    )
