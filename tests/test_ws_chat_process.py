"""`/ws/chat` through a real uvicorn with the `websockets` client: streaming, cancel, concurrent turns, garbage,
close codes and the origin check, as a browser or app sees them (the in-process suite is main-service's)."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from conftest import ServiceProcess


def _socket(main: ServiceProcess, **options: Any) -> ClientConnection:
    return connect(main.url.replace("http", "ws") + "/ws/chat", open_timeout=10, **options)


def _events(socket: ClientConnection, until_ended: set[str]) -> Iterator[dict[str, Any]]:
    """Events until every turn in `until_ended` ended with final, error or cancelled."""
    open_turns = set(until_ended)
    while open_turns:
        event = json.loads(socket.recv(timeout=120))
        yield event
        if event["type"] in ("final", "error", "cancelled"):
            open_turns.discard(event.get("id", ""))


def test_a_turn_streams_deltas_before_its_final(main: ServiceProcess) -> None:
    with _socket(main) as socket:
        socket.send(json.dumps({"type": "message", "id": "s1", "text": "/fast Name three rivers."}))
        events = list(_events(socket, {"s1"}))
    kinds = [event["type"] for event in events]
    assert kinds[0] == "route"
    assert kinds[-1] == "final"
    assert kinds.count("member.delta") + kinds.count("synthesis.delta") >= 2
    assert all(event["id"] == "s1" for event in events)


def test_cancel_stops_a_streaming_turn_and_the_socket_serves_the_next(main: ServiceProcess) -> None:
    with _socket(main) as socket:
        socket.send(json.dumps({"type": "message", "id": "c1", "text": "/fast Write a long poem about the sea."}))
        for event in _events(socket, {"c1"}):
            if event["type"].endswith(".delta"):
                socket.send(json.dumps({"type": "cancel", "id": "c1"}))
                break
        ending = [event["type"] for event in _events(socket, {"c1"})]
        socket.send(json.dumps({"type": "message", "id": "c2", "text": "/fast Say hi."}))
        after = list(_events(socket, {"c2"}))
    assert ending[-1] == "cancelled"
    assert "final" not in ending
    assert after[-1]["type"] == "final"


def test_concurrent_turns_on_one_socket_interleave_and_each_ends_once(main: ServiceProcess) -> None:
    with _socket(main) as socket:
        for turn in ("a", "b"):
            socket.send(json.dumps({"type": "message", "id": turn, "text": f"/fast Tell me about the letter {turn}."}))
        events = list(_events(socket, {"a", "b"}))
    endings = [(event["id"], event["type"]) for event in events if event["type"] in ("final", "error", "cancelled")]
    assert sorted(endings) == [("a", "final"), ("b", "final")]
    streamed = {event["id"] for event in events if event["type"].endswith(".delta")}
    first_end = min(i for i, event in enumerate(events) if event["type"] == "final")
    # Both turns were streaming before the first of them ended: they ran side by side, not one after the other.
    assert {"a", "b"} <= {event["id"] for event in events[:first_end] if event["type"] == "route"}
    assert streamed == {"a", "b"}


@pytest.mark.parametrize(
    ("frame", "code"),
    [(b"\x00\x01binary", 1003), ("x" * 70_000, 1009)],
    ids=["binary-frame-1003", "oversized-frame-1009"],
)
def test_garbage_frames_close_with_their_code(main: ServiceProcess, frame: str | bytes, code: int) -> None:
    with _socket(main, max_size=None) as socket:
        socket.send("not json at all")
        assert json.loads(socket.recv(timeout=10))["code"] == "invalid_json"  # bad JSON keeps the socket open
        socket.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code


def test_a_foreign_origin_is_refused_and_the_own_origin_is_not(main: ServiceProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        _socket(main, origin=Origin("https://evil.example"))
    assert refused.value.response.status_code == 403  # uvicorn's answer to a handshake closed with 1008
    with _socket(main, origin=Origin(main.url)) as socket:
        socket.send(json.dumps({"type": "ping", "id": "p"}))
        assert json.loads(socket.recv(timeout=10)) == {"type": "pong", "id": "p"}
