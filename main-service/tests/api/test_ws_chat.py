"""`/ws/chat` with a real client and the real embedded model: streaming, concurrency, cancel, bad frames, closes."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from council.app import create_app
from council.settings import Settings
from tests.api.test_turn_wiring import count_decisions


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://localhost") as test_client:
        yield test_client


@contextmanager
def chat_socket(settings: Settings) -> Iterator[WebSocketTestSession]:
    """`/ws/chat` on an app of its own, for a test that changes the settings first."""
    with (
        TestClient(create_app(settings), base_url="http://localhost") as client,
        client.websocket_connect("ws://localhost/ws/chat") as socket,
    ):
        yield socket


def events_until_final(socket: Any, turn_id: str) -> list[dict[str, Any]]:
    events = []
    while True:
        event = socket.receive_json()
        events.append(event)
        if event.get("id") == turn_id and event["type"] in ("final", "error", "cancelled"):
            return events


def test_a_turn_streams_typed_events_tagged_with_its_id(client: TestClient) -> None:
    with client.websocket_connect("ws://localhost/ws/chat") as socket:
        socket.send_json({"type": "message", "id": "t1", "text": "/fast Say hello.", "path": "auto"})
        events = events_until_final(socket, "t1")

    types = [event["type"] for event in events]
    assert types[0] == "route"
    assert events[0]["path"] == "fast"
    assert "synthesis.delta" in types
    assert types[-1] == "final"
    assert all(event["id"] == "t1" for event in events)
    final = events[-1]
    assert final["answer"] == "".join(e["text"] for e in events if e["type"] == "synthesis.delta")
    assert final["thread_id"]


def test_a_turn_may_choose_its_council_members(client: TestClient) -> None:
    with client.websocket_connect("ws://localhost/ws/chat") as socket:
        socket.send_json({"type": "message", "id": "m", "text": "Tea or coffee?", "path": "council",
                          "members": ["creative", "analytical"]})  # fmt: skip
        events = events_until_final(socket, "m")
        socket.send_json({"type": "message", "id": "x", "text": "hi", "path": "council", "members": ["jester"]})
        refused = socket.receive_json()

    assert events[0]["members"] == ["analytical", "creative"]  # the configured order
    assert {event["member"] for event in events if event["type"] == "member.done"} == {"analytical", "creative"}
    assert (refused["type"], refused["code"], refused["id"]) == ("error", "invalid_request", "x")
    assert "jester" in refused["message"]


def test_a_turn_may_choose_its_review_round_and_ranking(client: TestClient) -> None:
    with client.websocket_connect("ws://localhost/ws/chat") as socket:
        socket.send_json({"type": "message", "id": "r", "text": "Tea or coffee?", "path": "council",
                          "review_round": True, "ranking": True})  # fmt: skip
        events = events_until_final(socket, "r")
        socket.send_json({"type": "message", "id": "bad", "text": "hi", "path": "council", "ranking": "on"})
        refused = socket.receive_json()

    types = [event["type"] for event in events]
    assert types.index("review") < types.index("ranking") < types.index("ranking.done") < types.index("final")
    assert types.count("ranking.ballot") == 3
    assert all(event["id"] == "r" for event in events)
    assert events[-1]["ranking"]["answers"]
    assert (refused["type"], refused["code"], refused["id"]) == ("error", "invalid_request", "bad")
    assert "ranking" in refused["message"]


def test_two_turns_run_concurrently_on_one_socket(client: TestClient) -> None:
    with client.websocket_connect("ws://localhost/ws/chat") as socket:
        socket.send_json({"type": "message", "id": "a", "text": "/fast One word, please."})
        socket.send_json({"type": "message", "id": "b", "text": "/fast Another word, please."})
        finals: dict[str, dict[str, Any]] = {}
        while len(finals) < 2:
            event = socket.receive_json()
            if event["type"] == "final":
                finals[event["id"]] = event
    assert set(finals) == {"a", "b"}
    assert finals["a"]["thread_id"] != finals["b"]["thread_id"]


def test_ping_gets_pong_and_bad_json_keeps_the_socket_open(client: TestClient) -> None:
    with client.websocket_connect("ws://localhost/ws/chat") as socket:
        socket.send_text("{not json")
        error = socket.receive_json()
        socket.send_json({"type": "dance", "id": "x"})
        unknown = socket.receive_json()
        socket.send_json({"type": "message", "id": "y", "text": ""})
        empty = socket.receive_json()
        socket.send_json({"type": "ping", "id": "p1"})
        pong = socket.receive_json()

    assert (error["type"], error["code"]) == ("error", "invalid_json")
    assert error["request_id"]
    assert (unknown["code"], unknown["id"]) == ("invalid_request", "x")
    assert (empty["code"], empty["id"]) == ("invalid_request", "y")
    assert pong == {"type": "pong", "id": "p1"}


def test_cancel_stops_a_running_turn(settings: Settings) -> None:
    settings.llm.max_tokens = 256  # long enough that the cancel lands mid-generation
    with chat_socket(settings) as socket:
        socket.send_json({"type": "message", "id": "long", "text": "/fast Tell me a long story about the sea."})
        while socket.receive_json()["type"] != "synthesis.delta":
            pass
        socket.send_json({"type": "cancel", "id": "long"})
        events = events_until_final(socket, "long")
        socket.send_json({"type": "cancel", "id": "long"})
        again = socket.receive_json()

    assert events[-1] == {"type": "cancelled", "id": "long"}
    assert all(event["type"] != "final" for event in events)
    assert (again["type"], again["code"]) == ("error", "not_found")


def test_too_many_inflight_turns_is_an_error_event(settings: Settings) -> None:
    settings.ws.max_inflight_turns = 1
    settings.llm.max_tokens = 64
    with chat_socket(settings) as socket:
        socket.send_json({"type": "message", "id": "first", "text": "/fast Describe the moon."})
        socket.send_json({"type": "message", "id": "second", "text": "/fast Describe the sun."})
        refusal = next(e for e in iter(socket.receive_json, None) if e["id"] == "second")
        assert events_until_final(socket, "first")[-1]["type"] == "final"

    assert (refusal["type"], refusal["code"]) == ("error", "too_many_turns")


def test_binary_frame_closes_with_1003(client: TestClient) -> None:
    with client.websocket_connect("ws://localhost/ws/chat") as socket:
        socket.send_bytes(b"\x00\x01")
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 1003


def test_oversized_frame_closes_with_1009(settings: Settings) -> None:
    settings.ws.max_message_bytes = 1024
    with chat_socket(settings) as socket:
        socket.send_json({"type": "message", "id": "big", "text": "x" * 2048})
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 1009


def test_idle_socket_is_closed_normally(settings: Settings) -> None:
    settings.ws.idle_timeout_s = 0.2
    with chat_socket(settings) as socket, pytest.raises(WebSocketDisconnect) as closed:
        socket.receive_json()
    assert closed.value.code == 1000
    assert closed.value.reason == "idle timeout"


def test_turns_count_against_the_chat_limit_and_an_over_limit_turn_is_an_error_event(settings: Settings) -> None:
    settings.rate_limit.chat = "1/minute"
    with (
        TestClient(create_app(settings), base_url="http://localhost") as client,
        client.websocket_connect("ws://localhost/ws/chat") as socket,
    ):
        socket.send_json({"type": "message", "id": "first", "text": "/fast Say hello."})
        assert events_until_final(socket, "first")[-1]["type"] == "final"
        socket.send_json({"type": "message", "id": "second", "text": "/fast Say hello again."})
        refusal = socket.receive_json()
        socket.send_json({"type": "ping", "id": "still-open"})
        pong = socket.receive_json()
        rest = client.post("/api/chat", json={"message": "/fast Hello over REST."})  # the same client's bucket

    assert (refusal["type"], refusal["code"], refusal["id"]) == ("error", "rate_limited", "second")
    assert 1 <= refusal["retry_after"] <= 60
    assert refusal["request_id"]
    assert pong == {"type": "pong", "id": "still-open"}
    assert rest.status_code == 429


def test_a_socket_turn_is_routed_once(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    decided = count_decisions(monkeypatch)
    with client.websocket_connect("ws://localhost/ws/chat") as socket:
        socket.send_json({"type": "message", "id": "once", "text": "Say hi", "path": "fast"})
        while socket.receive_json()["type"] not in ("final", "error"):
            pass
    assert decided == ["Say hi"]
