"""`WS /v1/realtime` as a real client sees it from a real uvicorn process: refusals are an HTTP status in the
handshake (401, 429 with Retry-After) with the JSON error shape, not a bare 403; engine errors during streamed
synthesis are `error` events, not a 1011 close."""

import base64
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.api.test_streaming import LONG_TEXT, RUNNING, speech
from tests.conftest import Server, wait_for
from voice.settings import LimitSettings, RealtimeSettings

SESSION_CAP = LimitSettings().max_realtime_sessions  # the server fixture keeps the default


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/v1/realtime"


def open_session(server: Server, headers: dict[str, str] | None = None, query: str = "") -> ClientConnection:
    return connect(ws_url(server) + query, additional_headers=headers, proxy=None, open_timeout=10)


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


def test_a_frame_over_the_limit_is_refused_from_its_header_before_it_is_buffered(server: Server) -> None:
    limit = RealtimeSettings().max_frame_bytes  # the server fixture keeps the default
    with open_session(server, server.headers) as session:
        assert json.loads(session.recv(timeout=10))["type"] == "session.created"
        # One masked binary frame's header announcing 4x the limit (under uvicorn's default 16 MiB), and only 1 KiB of
        # its payload: a server that buffers frames up to its own maximum waits for the rest and never answers.
        header = bytes([0x82, 0x80 | 127]) + (4 * limit).to_bytes(8, "big") + secrets.token_bytes(4)
        session.socket.sendall(header + bytes(1024))
        with pytest.raises(ConnectionClosed) as closed:
            session.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


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


def receive_event(session: ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(session.recv(timeout=30))
    return event


def test_a_busy_engine_during_streamed_synthesis_is_an_error_event_and_the_text_is_kept(server: Server) -> None:
    # The session server allows one piper job and no queue: a held HTTP stream makes the socket's next job a 429.
    with (
        httpx.Client(timeout=60) as client,
        open_session(server, server.headers, "/speech?voice=en_US-joe-medium") as session,
    ):
        assert receive_event(session)["type"] == "session.created"
        holder = client.send(speech(server, LONG_TEXT), stream=True)
        next(holder.iter_raw())
        session.send(json.dumps({"type": "speech.text.delta", "delta": "The council has decided. "}))
        busy = receive_event(session)
        assert (busy["type"], busy["error"]["code"], busy["text"]) == (
            "error",
            "rate_limited",
            "The council has decided.",
        )
        holder.close()
        wait_for(lambda: server.metric(RUNNING) == 0, "release the engine slot after the HTTP client left")
        session.send(json.dumps({"type": "speech.text.done"}))  # wakes the queue: the kept text is spoken now
        spoken = receive_event(session)
        assert (spoken["type"], spoken["text"]) == ("speech.audio.delta", "The council has decided.")
        assert len(base64.b64decode(spoken["delta"])) > 2 * 24_000 * 0.5
        while (event := receive_event(session))["type"] != "speech.audio.done":
            assert (event["type"], event["text"]) == ("speech.audio.delta", "")  # the resampler's tail, if any
