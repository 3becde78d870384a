"""`/ws/voice` against a stand-in voice service over real HTTP: a failure of our own ends the socket loudly."""

import contextlib
import json
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import AnyHttpUrl
from starlette.testclient import TestClient, WebSocketDenialResponse, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from council.app import create_app
from council.settings import Settings
from tests.voice.standin import SPOKEN_SAMPLES, VoiceStandIn


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
        TestClient(create_app(settings), base_url="http://localhost") as client,
        client.websocket_connect("ws://localhost/ws/voice", headers={"X-Request-ID": "listen-1"}) as socket,
    ):
        assert socket.receive_json()["type"] == "ready"
        socket.send_bytes(second_of_silence)
        error = socket.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()

    assert (error["type"], error["code"], error["request_id"]) == ("error", "internal_error", "listen-1")
    assert closed.value.code == 1011
    assert standin.calls["/v1/realtime"] == standin.calls["/v1/realtime/speech"] == 1  # one listens, one speaks
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    failure = next(line for line in lines if line["event"] == "voice_listener_failed")
    assert failure["request_id"] == "listen-1"
    assert "JSONDecodeError" in failure["exception"]


def heard(text: str) -> str:
    """The stand-in's answer to every audio frame: a finished utterance saying `text`."""
    return json.dumps({"type": "conversation.item.input_audio_transcription.completed", "transcript": text})


@pytest.fixture
def voice_settings(settings: Settings, standin: VoiceStandIn) -> Settings:
    settings.voice.base_url = AnyHttpUrl(standin.url)
    return settings


@contextlib.contextmanager
def ready_socket(settings: Settings) -> Iterator[WebSocketTestSession]:
    """A `/ws/voice` session on a fresh app, past its `ready` message."""
    with (
        TestClient(create_app(settings), base_url="http://localhost") as client,
        client.websocket_connect("ws://localhost/ws/voice") as socket,
    ):
        assert socket.receive_json()["type"] == "ready"
        yield socket


def test_the_audio_backlog_is_counted_in_bytes_not_frames(voice_settings: Settings) -> None:
    # 0.1 s of 16 kHz s16le is 3 200 bytes: one frame of a whole second (allowed: max_frame_bytes 32 000) is
    # already more than the socket may hold, however few frames that is.
    voice_settings.voice_ws.max_backlog_s = 0.1
    with ready_socket(voice_settings) as socket:
        socket.send_bytes(bytes(32_000))
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 1008


def test_repeated_commits_with_nothing_said_between_reach_the_voice_service_once(
    voice_settings: Settings, standin: VoiceStandIn
) -> None:
    # Each commit makes the voice service end an utterance and transcribe it: a client repeating `commit` with no
    # audio between would queue that work without bound. The stand-in answers every audio frame with an (empty)
    # transcript, so the client sees when a frame, and everything queued before it, has reached the voice service.
    standin.realtime_answer = json.dumps(
        {"type": "conversation.item.input_audio_transcription.completed", "transcript": ""}
    )
    with ready_socket(voice_settings) as socket:
        socket.send_json({"type": "config", "turn_detection": "manual"})
        assert socket.receive_json()["type"] == "config"
        socket.send_bytes(bytes(640))
        for _ in range(50):
            socket.send_json({"type": "commit"})
        socket.send_bytes(bytes(640))
        transcripts = 0
        while transcripts < 2:
            transcripts += socket.receive_json()["type"] == "transcript"
    commits = [event for event in standin.listening_events if event["type"] == "input_audio_buffer.commit"]
    assert len(commits) == 1


@pytest.mark.parametrize(("words", "read"), [("Can you tell me", False), ("What is the capital of France?", True)])
def test_each_pauses_words_are_read_by_the_bundled_model_for_the_voice_services_turn_decision(
    voice_settings: Settings, standin: VoiceStandIn, words: str, read: bool
) -> None:
    # The voice service says a pause's words (`paused`) while the turn is undecided; the main service tells it how
    # the bundled chat model reads them: the probability that the user's message ends there (issue 25, item 1).
    voice_settings.voice_ws.read_words = True
    paused = {"type": "input_audio_buffer.paused", "item_id": "item_1", "audio_end_ms": 1234, "transcript": words}
    standin.realtime_answer = json.dumps(paused)
    with ready_socket(voice_settings) as socket:
        socket.send_bytes(bytes(640))
        deadline = time.monotonic() + 30
        while not [e for e in standin.listening_events if e["type"] == "input_audio_buffer.text_end_of_turn"]:
            assert time.monotonic() < deadline, standin.listening_events
            time.sleep(0.01)
    update, reading = standin.listening_events[0], standin.listening_events[-1]
    assert update["session"]["turn_detection"] == {"type": "semantic_vad", "text_end_of_turn": "client"}
    assert (reading["item_id"], reading["audio_end_ms"]) == ("item_1", 1234)
    # The thresholds the voice service applies (VOICE_TURN__MODEL_HOLD_BELOW 1e-6, __MODEL_END_AT 0.003).
    assert (reading["probability"] >= 0.003) is read
    assert (reading["probability"] < 1e-6) is not read


def test_a_voice_service_that_does_not_wait_for_readings_is_sent_none(
    voice_settings: Settings, standin: VoiceStandIn
) -> None:
    # A voice service from before `text_end_of_turn` ignores the ask (its session.updated leaves it out) and would
    # answer a reading with an error event, which ends the session: nothing is sent to it.
    voice_settings.voice_ws.read_words = True
    standin.reads_words = False
    paused = {"type": "input_audio_buffer.paused", "item_id": "item_1", "audio_end_ms": 10, "transcript": "Hello there"}
    standin.realtime_answer = json.dumps(paused)
    with ready_socket(voice_settings) as socket:
        socket.send_json({"type": "config", "turn_detection": "silence"})
        assert socket.receive_json()["type"] == "config"
        socket.send_bytes(bytes(640))
        socket.send_json({"type": "config", "turn_detection": "semantic"})  # this one's echo comes after the frame's
        assert socket.receive_json()["type"] == "config"
        socket.send_bytes(bytes(640))
        deadline = time.monotonic() + 10
        while len([e for e in standin.listening_events if e["type"] == "session.update"]) < 3:
            assert time.monotonic() < deadline, standin.listening_events
            time.sleep(0.01)
        time.sleep(0.5)  # a reading, were one sent, would be on its way by now
    assert [e["type"] for e in standin.listening_events] == ["session.update"] * 3


def test_a_silent_socket_is_closed_after_the_idle_timeout(voice_settings: Settings) -> None:
    voice_settings.voice_ws.idle_timeout_s = 0.5
    with ready_socket(voice_settings) as socket, pytest.raises(WebSocketDisconnect) as closed:
        socket.receive_json()
    assert (closed.value.code, closed.value.reason) == (1000, "idle timeout")


def test_pings_do_not_keep_an_idle_socket_open(voice_settings: Settings) -> None:
    # A ping proves the socket is up, not that anyone talks: a client pinging forever must not hold a session slot
    # (issue 26). Pings every 0.1 s for longer than the 0.8 s timeout: the server still closes at the timeout.
    voice_settings.voice_ws.idle_timeout_s = 0.8
    with ready_socket(voice_settings) as socket, pytest.raises(WebSocketDisconnect) as closed:
        _ping_for(socket, seconds=4)
    assert (closed.value.code, closed.value.reason) == (1000, "idle timeout")


def _ping_for(socket: WebSocketTestSession, seconds: float) -> None:
    for _ in range(round(seconds / 0.1)):
        socket.send_json({"type": "ping"})
        assert socket.receive_json()["type"] == "pong"
        time.sleep(0.1)


def test_sessions_over_the_cap_are_refused_with_429_and_a_freed_slot_is_taken_again(
    voice_settings: Settings,
) -> None:
    voice_settings.voice_ws.max_sessions = 1
    with TestClient(create_app(voice_settings), base_url="http://localhost") as client:
        with client.websocket_connect("ws://localhost/ws/voice") as first:
            assert first.receive_json()["type"] == "ready"
            with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect("ws://localhost/ws/voice"):
                pass
        with client.websocket_connect("ws://localhost/ws/voice") as again:  # the first one's slot is free
            assert again.receive_json()["type"] == "ready"
    assert refused.value.status_code == 429
    assert refused.value.headers["retry-after"] == "5"
    assert refused.value.json()["error"]["code"] == "rate_limited"


def test_spoken_turns_count_against_the_chat_limit(voice_settings: Settings, standin: VoiceStandIn) -> None:
    voice_settings.rate_limit.chat = "1/minute"
    standin.realtime_answer = heard("/fast hi")
    with ready_socket(voice_settings) as socket:
        socket.send_json({"type": "config", "speak": False})
        assert socket.receive_json()["type"] == "config"
        socket.send_bytes(bytes(640))
        events = [socket.receive_json()]
        while events[-1]["type"] != "final":
            events.append(socket.receive_json())
        socket.send_bytes(bytes(640))  # a second utterance within the minute
        transcript, limited = socket.receive_json(), socket.receive_json()

    assert events[0]["type"] == "transcript"
    assert transcript["type"] == "transcript"
    assert (limited["type"], limited["code"], limited["id"]) == ("error", "rate_limited", transcript["id"])
    assert limited["retry_after"] >= 1


def test_the_acknowledgement_is_synthesized_once_and_then_played_from_its_clip(
    voice_settings: Settings, standin: VoiceStandIn
) -> None:
    # Synthesizing it when a turn is routed to the council competes with the members for the CPU (~650 ms on 2
    # cores); made once when the session starts, it is heard at once in every council turn after.
    acknowledgement = voice_settings.voice_ws.acknowledgement
    standin.realtime_answer = heard("Should we build a bridge?")
    acks: list[tuple[dict[str, Any], bytes]] = []
    with TestClient(create_app(voice_settings), base_url="http://localhost") as client:
        for _ in range(2):  # two sessions, one council turn each
            with client.websocket_connect("ws://localhost/ws/voice") as socket:
                assert socket.receive_json()["type"] == "ready"
                socket.send_json({"type": "config", "path": "council"})
                assert socket.receive_json()["type"] == "config"
                socket.send_bytes(bytes(640))
                start, audio = _until_audio_start(socket), bytearray()
                while isinstance(frame := _receive(socket), bytes):
                    audio += frame
                assert frame["type"] == "audio.end"
                acks.append((start, bytes(audio)))

    assert standin.synthesized.count(acknowledgement) == 1
    first_clip = struct.pack("<h", standin.synthesized.index(acknowledgement)) * SPOKEN_SAMPLES
    for start, audio in acks:
        assert (start["kind"], start["text"]) == ("acknowledgement", acknowledgement)
        assert audio == first_clip


def _receive(socket: WebSocketTestSession) -> dict[str, Any] | bytes:
    message = socket.receive()
    if message.get("bytes") is not None:
        return bytes(message["bytes"])
    event: dict[str, Any] = json.loads(message["text"])
    return event


def _until_audio_start(socket: WebSocketTestSession) -> dict[str, Any]:
    while True:
        frame = _receive(socket)
        if isinstance(frame, dict) and frame["type"] == "audio.start":
            return frame


def test_text_frames_are_typed_messages_and_anything_else_is_refused_in_the_one_error_shape(
    voice_settings: Settings, standin: VoiceStandIn
) -> None:
    with ready_socket(voice_settings) as socket:
        socket.send_json({"type": "ping", "id": "p1"})  # more than a ping needs is still a ping
        pong = socket.receive_json()
        socket.send_text("{not json")
        not_json = socket.receive_json()
        socket.send_json({"type": "hello"})
        unknown = socket.receive_json()
        socket.send_json({"type": "config", "speak": False, "volume": 11})
        bad_config = socket.receive_json()
        socket.send_json({"type": "config", "speak": False, "path": "fast"})
        config = socket.receive_json()
        socket.send_json({"type": "cancel"})  # nothing is running: nothing to say
        socket.send_json({"type": "ping"})
        second_pong = socket.receive_json()

    assert pong == second_pong == {"type": "pong"}
    assert (not_json["type"], not_json["code"]) == ("error", "invalid_json")
    assert (unknown["code"], unknown["message"]) == (
        "invalid_request",
        "Text frames are ping, cancel, commit or config; audio goes in binary frames.",
    )
    assert bad_config["code"] == "invalid_request"
    assert bad_config["message"].startswith("Invalid config: ")
    assert all(error["request_id"] for error in (not_json, unknown, bad_config))
    assert (config["type"], config["speak"], config["path"]) == ("config", False, "fast")
    assert config["turn_detection"] == voice_settings.voice_ws.turn_detection
