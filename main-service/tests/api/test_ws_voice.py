"""`/ws/voice` against a stand-in voice service over real HTTP: a failure of our own ends the socket loudly."""

import json
from collections.abc import Iterator

import pytest
from pydantic import AnyHttpUrl
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from council.app import create_app
from council.settings import Settings
from tests.voice.standin import VoiceStandIn


@pytest.fixture
def standin() -> Iterator[VoiceStandIn]:
    with VoiceStandIn().running() as server:
        yield server


def test_an_unexpected_failure_while_listening_is_an_error_event_and_close_1011(
    settings: Settings, standin: VoiceStandIn, capfd: pytest.CaptureFixture[str]
) -> None:
    # A real-time event that is not JSON is no voice outage: it must not end the listener silently, leaving a
    # socket that takes audio and never answers.
    standin.realtime_answer = "not json"
    settings.voice.base_url = AnyHttpUrl(standin.url)
    second_of_silence = bytes(32_000)  # 16 kHz s16le: the stand-in answers any audio
    with (
        TestClient(create_app(settings)) as client,
        client.websocket_connect("/ws/voice", headers={"X-Request-ID": "listen-1"}) as socket,
    ):
        assert socket.receive_json()["type"] == "ready"
        socket.send_bytes(second_of_silence)
        error = socket.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()

    assert (error["type"], error["code"], error["request_id"]) == ("error", "internal_error", "listen-1")
    assert closed.value.code == 1011
    assert standin.calls["/v1/realtime"] == 2  # one socket listens, one speaks
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    failure = next(line for line in lines if line["event"] == "voice_listener_failed")
    assert failure["request_id"] == "listen-1"
    assert "JSONDecodeError" in failure["exception"]
