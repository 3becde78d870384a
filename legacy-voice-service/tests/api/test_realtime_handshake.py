"""`WS /v1/realtime` refusals as a real client sees them from a real uvicorn process: an HTTP status in the
handshake (401, 429 with Retry-After) with the JSON error shape, not a bare 403."""

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.conftest import Server

SESSION_CAP = 4  # the server fixture keeps the default VOICE_LIMITS__MAX_REALTIME_SESSIONS


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/v1/realtime"


def open_session(server: Server, headers: dict[str, str] | None = None) -> ClientConnection:
    return connect(ws_url(server), additional_headers=headers, proxy=None, open_timeout=10)


def refusal(server: Server, headers: dict[str, str] | None = None) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as refused, open_session(server, headers):
        pass
    return refused.value


@pytest.fixture
def full_house(server: Server) -> Iterator[list[ClientConnection]]:
    with ExitStack() as stack:
        sessions = [stack.enter_context(open_session(server, server.headers)) for _ in range(SESSION_CAP)]
        for session in sessions:
            assert json.loads(session.recv(timeout=10))["type"] == "session.created"
        yield sessions


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic dGVzdA=="])
def test_a_handshake_without_the_token_is_refused_with_401(server: Server, authorization: str | None) -> None:
    refused = refusal(server, {"Authorization": authorization} if authorization else None)
    assert refused.response.status_code == 401
    assert refused.response.headers["WWW-Authenticate"] == "Bearer"
    assert refused.response.headers["X-Request-ID"]
    error = json.loads(refused.response.body)["error"]
    assert error["code"] == "unauthorized"
    assert error["request_id"] == refused.response.headers["X-Request-ID"]


def test_a_session_over_the_cap_is_refused_with_429_and_retry_after(
    server: Server, full_house: list[ClientConnection]
) -> None:
    refused = refusal(server, server.headers)
    assert refused.response.status_code == 429
    assert refused.response.headers["Retry-After"] == "2"
    error = json.loads(refused.response.body)["error"]
    assert error["code"] == "rate_limited"
    assert "VOICE_LIMITS__MAX_REALTIME_SESSIONS" in error["message"]
    full_house.pop().close()
    assert _eventually_accepted(server)  # a slot given back is usable again


def _eventually_accepted(server: Server, timeout_s: float = 10.0) -> bool:
    """The server frees a slot when it has processed the disconnect, a moment after the client's close."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with open_session(server, server.headers) as session:
                return bool(json.loads(session.recv(timeout=10))["type"] == "session.created")
        except InvalidStatus as refused:
            if refused.response.status_code != 429:
                raise
    return False
