"""`/ws/voice` end to end: both services as processes, speech the voice service synthesizes streamed in as PCM."""

import json
from array import array
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from conftest import ServiceProcess, StartService
from servicekit import free_port

FRAME_BYTES = 640  # 20 ms at 16 kHz s16le


def question_pcm16k(voice: ServiceProcess, text: str) -> bytes:
    """Piper speech (24 kHz `pcm`) resampled to the socket's 16 kHz by linear interpolation, plus 1.5 s of silence."""
    response = httpx.post(
        f"{voice.url}/v1/audio/speech",
        json={"input": text, "voice": "en_US-joe-medium", "response_format": "pcm"},
        timeout=60,
    )
    response.raise_for_status()
    source = array("h", response.content)
    out = array("h")
    for i in range(len(source) * 2 // 3):
        position = i * 1.5
        left = int(position)
        right = min(left + 1, len(source) - 1)
        out.append(round(source[left] + (source[right] - source[left]) * (position - left)))
    return out.tobytes() + bytes(2 * 16_000 * 3 // 2)


def stream(socket: ClientConnection, pcm: bytes) -> None:
    for start in range(0, len(pcm), FRAME_BYTES):
        socket.send(pcm[start : start + FRAME_BYTES])


def receive_until(socket: ClientConnection, stop: str, audio: list[bytes]) -> list[dict[str, Any]]:
    events = []
    while True:
        frame = socket.recv(timeout=120)
        if isinstance(frame, bytes):
            audio.append(frame)
            continue
        event = json.loads(frame)
        events.append(event)
        if event["type"] == stop:
            return events
        assert event["type"] != "error", event


@pytest.fixture(scope="module")
def question(voice: ServiceProcess) -> bytes:
    return question_pcm16k(voice, "What is the tallest mountain on Earth?")


def test_spoken_question_gets_transcript_answer_events_and_speech(main: ServiceProcess, question: bytes) -> None:
    audio: list[bytes] = []
    with connect(main.url.replace("http", "ws") + "/ws/voice") as socket:
        ready = json.loads(socket.recv(timeout=10))
        socket.send(json.dumps({"type": "config", "path": "fast"}))
        stream(socket, question)
        events = receive_until(socket, "audio.end", audio)

    types = [event["type"] for event in events]
    assert ready["input"] == {"sample_rate": 16000, "format": "s16le", "channels": 1}
    assert types.index("speech.started") < types.index("speech.stopped") < types.index("transcript")
    transcript = next(e for e in events if e["type"] == "transcript")["text"].lower()
    assert "mountain" in transcript
    assert types.index("transcript") < types.index("route") < types.index("final") < types.index("audio.start")
    start = next(e for e in events if e["type"] == "audio.start")
    assert start["output"]["sample_rate"] == 24000
    assert sum(len(chunk) for chunk in audio) > 24000 * 2 * 0.5  # at least half a second of speech


def test_speaking_over_the_answer_cancels_it(main: ServiceProcess, question: bytes) -> None:
    audio: list[bytes] = []
    with connect(main.url.replace("http", "ws") + "/ws/voice") as socket:
        socket.recv(timeout=10)
        socket.send(json.dumps({"type": "config", "path": "fast"}))
        stream(socket, question)
        first = receive_until(socket, "audio.start", audio)
        first_turn = next(e for e in first if e["type"] == "audio.start")["id"]
        stream(socket, question)  # the user talks again while the answer is being spoken
        after = receive_until(socket, "transcript", audio)

    types = [event["type"] for event in after]
    assert {"type": "barge_in", "id": first_turn} in after
    assert {"type": "cancelled", "id": first_turn} in after
    assert types.index("barge_in") < types.index("transcript")
    assert not any(e["type"] == "audio.end" and e.get("id") == first_turn for e in after)


def test_voice_down_is_a_clear_error_and_close_1013(start_main: StartService) -> None:
    main = start_main(free_port())  # nothing listens on the voice port
    with connect(main.url.replace("http", "ws") + "/ws/voice") as socket:
        error = json.loads(socket.recv(timeout=10))
        with pytest.raises(Exception, match="1013"):
            socket.recv(timeout=10)
    assert error["type"] == "error"
    assert error["code"] == "voice_unavailable"
    assert httpx.post(f"{main.url}/api/chat", json={"message": "/fast hi"}, timeout=60).status_code == 200
