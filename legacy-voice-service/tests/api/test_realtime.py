"""`WS /v1/realtime`: VAD endpointing and transcripts for streamed PCM, the token and the session cap.

In process (TestClient's WebSocket) with the real bundled engines."""

import base64
import threading
import time
from typing import Any

import av
import numpy as np
import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from tests.api.wer import normalize
from tests.conftest import AppClient, engine_free_settings
from voice.engines.vad.silero import SileroStream
from voice.settings import Settings

TEXT = "The council will vote after lunch."
FRAME = 4_800  # 0.1 s of pcm16 at 24 kHz, in bytes


@pytest.fixture(scope="module")
def realtime_settings() -> Settings:
    return Settings(_env_file=None, tts={"noise_scale": 0, "noise_w_scale": 0}, limits={"max_realtime_sessions": 1})


@pytest.fixture
def client(app_client: AppClient, realtime_settings: Settings) -> TestClient:
    """The app on `realtime_settings`, its engines loaded."""
    return app_client(realtime_settings)


def events_until(socket: Any, last: str) -> list[dict[str, Any]]:
    events = []
    while True:
        event = socket.receive_json()
        events.append(event)
        if event["type"] in (last, "error"):
            return events


def test_speech_then_silence_gives_vad_events_and_a_final_transcript(client: TestClient) -> None:
    speech = client.post(
        "/v1/audio/speech", json={"voice": "en_US-joe-medium", "input": TEXT, "response_format": "pcm"}
    ).content
    audio = b"\0" * (FRAME * 5) + speech + b"\0" * (FRAME * 10)
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        assert socket.receive_json()["type"] == "session.created"
        for start in range(0, len(audio), FRAME):
            frame = audio[start : start + FRAME]
            if start // FRAME % 2:
                socket.send_bytes(frame)  # binary frames and base64 events mix freely
            else:
                socket.send_json({"type": "input_audio_buffer.append", "audio": base64.b64encode(frame).decode()})
        events = events_until(socket, "conversation.item.input_audio_transcription.completed")
    kinds = [event["type"] for event in events]
    # Partial deltas may come while the speech goes on (test_realtime_partials.py), and the pause's transcript
    # (`paused`) before the turn ends; here the order of the rest.
    assert [kind for kind in kinds if not kind.endswith(".delta") and kind != "input_audio_buffer.paused"][:3] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
    ]
    assert "conversation.item.input_audio_transcription.delta" in kinds
    started, stopped, completed = events[0], events[kinds.index("input_audio_buffer.speech_stopped")], events[-1]
    assert 500 <= started["audio_start_ms"] <= 650  # the first speech frame: 0.5 s, plus Piper's own lead-in
    assert stopped["audio_end_ms"] > started["audio_start_ms"]
    assert normalize(completed["transcript"]) == normalize(TEXT)
    assert completed["item_id"] == events[kinds.index("input_audio_buffer.committed")]["item_id"]
    assert completed["words"][0]["start"] >= 0.3  # word times are in the session's clock


def test_bad_events_are_answered_with_error_events(client: TestClient) -> None:
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        socket.receive_json()
        socket.send_json({"type": "input_audio_buffer.append", "audio": "not base64!"})
        assert socket.receive_json()["type"] == "error"
        socket.send_json({"type": "response.create"})
        error = socket.receive_json()
        assert error["type"] == "error"
        assert "unknown event type" in error["error"]["message"]
        socket.send_json({"type": "transcription_session.update", "session": {"turn_detection": None}})
        assert socket.receive_json()["type"] == "session.updated"


def test_word_timestamps_can_be_left_out_of_a_sessions_transcripts(client: TestClient) -> None:
    speech = client.post(
        "/v1/audio/speech", json={"voice": "en_US-joe-medium", "input": TEXT, "response_format": "pcm"}
    ).content
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        created = socket.receive_json()
        completed = []
        for word_timestamps in (False, True):
            update = {"turn_detection": None, "input_audio_transcription": {"word_timestamps": word_timestamps}}
            socket.send_json({"type": "session.update", "session": update})
            updated = socket.receive_json()
            assert updated["session"]["input_audio_transcription"] == {"word_timestamps": word_timestamps}
            socket.send_bytes(speech)
            socket.send_json({"type": "input_audio_buffer.commit"})
            completed.append(events_until(socket, "conversation.item.input_audio_transcription.completed")[-1])
        socket.send_json({"type": "session.update", "session": {"input_audio_transcription": {"word_timestamps": 1}}})
        refused = socket.receive_json()

    assert created["session"]["input_audio_transcription"] == {"word_timestamps": True}  # the default: as before
    without, with_words = completed
    assert normalize(without["transcript"]) == normalize(with_words["transcript"]) == normalize(TEXT)
    assert without["words"] == []
    assert [word for w in with_words["words"] for word in normalize(w["word"])] == normalize(TEXT)
    assert refused["type"] == "error"
    assert "word_timestamps true or false" in refused["error"]["message"]


def test_a_second_session_over_the_cap_is_refused_with_429(client: TestClient) -> None:
    with client.websocket_connect("ws://localhost/v1/realtime") as first:
        first.receive_json()
        with (
            pytest.raises(WebSocketDenialResponse) as refused,
            client.websocket_connect("ws://localhost/v1/realtime") as second,
        ):
            second.receive_json()
        assert refused.value.status_code == 429
        assert refused.value.headers["Retry-After"] == "2"
        assert refused.value.json()["error"]["code"] == "rate_limited"


def test_the_socket_needs_the_service_token_when_one_is_set(app_client: AppClient) -> None:
    settings = Settings(
        _env_file=None,
        stt={"enabled": False},
        tts={"enabled": False},
        vad={"enabled": False},
        auth={"service_token": "s3"},
    )
    client = app_client(settings)
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        client.websocket_connect("ws://localhost/v1/realtime") as socket,
    ):
        socket.receive_json()
    assert refused.value.status_code == 401
    assert refused.value.json()["error"]["code"] == "unauthorized"
    with client.websocket_connect("ws://localhost/v1/realtime", headers={"Authorization": "Bearer s3"}) as socket:
        assert socket.receive_json()["type"] == "session.created"


def test_text_deltas_are_spoken_clause_by_clause_and_cancel_stops_at_once(app_client: AppClient) -> None:
    # Sentences and clauses only: the first piece's early words (VOICE_REALTIME__FIRST_PIECE_WORDS) are tested below.
    client = app_client(Settings(_env_file=None, realtime={"first_piece_words": 0}))
    with client.websocket_connect("ws://localhost/v1/realtime/speech?voice=en_US-joe-medium") as socket:
        assert socket.receive_json()["session"]["voice"] == "en_US-joe-medium"
        for delta in ["The council ", "has decided.", " We vote", " tomorrow"]:
            socket.send_json({"type": "speech.text.delta", "delta": delta})
        # The first sentence is complete, so it is spoken before the text is done; the rest waits for more.
        first = socket.receive_json()
        assert (first["type"], first["text"]) == ("speech.audio.delta", "The council has decided.")
        assert len(base64.b64decode(first["delta"])) > 2 * 24_000 * 0.5
        socket.send_json({"type": "speech.text.done"})
        events = events_until(socket, "speech.audio.done")
        assert [e.get("text") for e in events if e["type"] == "speech.audio.delta" and e["text"]] == [
            "We vote tomorrow"
        ]

        long_answer = " ".join(f"Point number {n} is worth a sentence of its own." for n in range(30))
        socket.send_json({"type": "speech.text.delta", "delta": long_answer})
        assert socket.receive_json()["type"] == "speech.audio.delta"
        socket.send_json({"type": "speech.cancel"})
        after_cancel = events_until(socket, "speech.cancelled")
        # At most the chunk already on the wire when cancel arrived; then silence, and the socket still works.
        assert len([e for e in after_cancel if e["type"] == "speech.audio.delta"]) <= 1
        socket.send_json({"type": "session.update", "session": {"voice": "en_US-joe-medium"}})
        assert socket.receive_json()["type"] == "session.updated"


def test_the_first_clause_is_spoken_at_once_and_a_number_is_never_cut_at_its_point(app_client: AppClient) -> None:
    # What the listener waits for is the first piece: it may end at a short clause. A mark at the end of the text
    # so far is not yet a boundary: tokens arrive as "3", ".", "5". (Four first words, so that a number is reached.)
    client = app_client(Settings(_env_file=None, realtime={"first_piece_words": 4}))
    with client.websocket_connect("ws://localhost/v1/realtime/speech?voice=en_US-joe-medium") as socket:
        socket.receive_json()
        for delta in ["Yes, it is about 3", ".", "5 km away", ", which is", " a short walk"]:
            socket.send_json({"type": "speech.text.delta", "delta": delta})
        first = socket.receive_json()
        # Its first words leave as a phrase (four whole words at least), never on "about" nor inside "3.5".
        assert (first["type"], first["text"]) == ("speech.audio.delta", "Yes, it is about 3.5 km")
        socket.send_json({"type": "speech.text.done"})
        events = events_until(socket, "speech.audio.done")
        assert [e["text"] for e in events if e["type"] == "speech.audio.delta" and e["text"]] == [
            "away, which is a short walk"
        ]
        # The next utterance starts over: its first clause leaves at once too (a clause of under 12 characters is
        # too short a piece to stand alone).
        for delta in ["Of course, my friend", ", the rest", " follows"]:
            socket.send_json({"type": "speech.text.delta", "delta": delta})
        assert socket.receive_json()["text"] == "Of course, my friend,"


@pytest.mark.parametrize(
    ("words", "deltas", "first_piece", "rest"),
    [
        (4, ["The", " capital", " of", " France", " is", " Paris", " and it is lovely."],
         "The capital of France", "is Paris and it is lovely."),
        (4, ["I", " think", " that", " the", " answer", " is", " yes"], "I think that the answer", "is yes"),
        (2, ["The", " capital", " of", " France", " is", " Paris", " and it is lovely."],
         "The capital", "of France is Paris and it is lovely."),  # the default
        (2, ["I", " think", " that", " the", " answer", " is", " yes"], "I think", "that the answer is yes"),
        (2, ["Of", " the", " three", " options", ","], "Of the three", "options,"),
    ],
)  # fmt: skip
def test_the_first_words_are_spoken_once_they_make_a_phrase_and_nothing_is_dropped_or_repeated(
    app_client: AppClient, words: int, deltas: list[str], first_piece: str, rest: str
) -> None:
    # Before any clause mark: `words` whole words, extended to a word a phrase can end on ("the" is not one).
    client = app_client(Settings(_env_file=None, realtime={"first_piece_words": words}))
    with client.websocket_connect("ws://localhost/v1/realtime/speech?voice=en_US-joe-medium") as socket:
        socket.receive_json()
        for delta in deltas:
            socket.send_json({"type": "speech.text.delta", "delta": delta})
        first = socket.receive_json()
        assert (first["type"], first["text"]) == ("speech.audio.delta", first_piece)
        socket.send_json({"type": "speech.text.done"})
        events = events_until(socket, "speech.audio.done")
        assert [e["text"] for e in events if e["type"] == "speech.audio.delta" and e["text"]] == [rest]


def test_the_first_piece_waits_for_a_clause_when_first_words_are_off(app_client: AppClient) -> None:
    client = app_client(Settings(_env_file=None, realtime={"first_piece_words": 0}))
    with client.websocket_connect("ws://localhost/v1/realtime/speech?voice=en_US-joe-medium") as socket:
        socket.receive_json()
        for delta in ["The", " capital", " of", " France", " is", " Paris", " and it is lovely."]:
            socket.send_json({"type": "speech.text.delta", "delta": delta})
        assert socket.receive_json()["text"] == "The capital of France is Paris and it is lovely."


def test_a_speech_session_with_an_unknown_voice_is_refused(client: TestClient) -> None:
    with client.websocket_connect("ws://localhost/v1/realtime/speech?voice=../x") as socket:
        error = socket.receive_json()
        assert error["type"] == "error"
        assert "Invalid voice name" in error["error"]["message"]


def test_a_16_khz_stream_is_accepted_with_its_sample_rate(client: TestClient) -> None:
    pcm24 = client.post(
        "/v1/audio/speech", json={"voice": "en_US-joe-medium", "input": TEXT, "response_format": "pcm"}
    ).content
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
    frame = av.AudioFrame.from_ndarray(np.frombuffer(pcm24, dtype="<i2").reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 24_000
    pcm16 = b"".join(out.to_ndarray().tobytes() for out in [*resampler.resample(frame), *resampler.resample(None)])
    with client.websocket_connect("ws://localhost/v1/realtime?sample_rate=16000") as socket:
        assert socket.receive_json()["session"]["input_sample_rate"] == 16_000
        socket.send_bytes(pcm16 + b"\0" * 32_000)
        events = events_until(socket, "conversation.item.input_audio_transcription.completed")
    assert normalize(events[-1]["transcript"]) == normalize(TEXT)
    assert events[0]["type"] == "input_audio_buffer.speech_started"
    with client.websocket_connect("ws://localhost/v1/realtime?sample_rate=11025") as socket:
        assert socket.receive_json()["type"] == "error"


NOT_OBJECTS = ["[]", "5", '"text"', "null", "{not json"]
LISTENING, SPEAKING = "/v1/realtime", "/v1/realtime/speech"


@pytest.mark.parametrize("query", ["intent=speech", "intent=anything"])
def test_the_listening_route_refuses_another_intent_and_names_the_speaking_route(
    client: TestClient, query: str
) -> None:
    # One route per protocol: synthesis used to be served on /v1/realtime?intent=speech, chosen by the query.
    with client.websocket_connect(f"ws://localhost/v1/realtime?{query}") as socket:
        error = socket.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert error["type"] == "error"
    assert "WS /v1/realtime/speech" in error["error"]["message"]
    assert closed.value.code == 1008


@pytest.mark.parametrize(
    ("route", "malformed"),
    [
        *[(LISTENING, text) for text in NOT_OBJECTS],
        (LISTENING, '{"type": "session.update", "session": "x"}'),
        (LISTENING, '{"type": "session.update", "session": {"turn_detection": "x"}}'),
        (LISTENING, '{"type": "input_audio_buffer.append", "audio": 5}'),
        *[(SPEAKING, text) for text in NOT_OBJECTS],
        (SPEAKING, '{"type": "session.update", "session": "x"}'),
        (SPEAKING, '{"type": "session.update", "session": {"voice": 5}}'),
        (SPEAKING, '{"type": "speech.text.delta", "delta": ["a"]}'),
    ],
)
def test_malformed_events_get_an_error_event_and_the_session_stays_open(
    client: TestClient, route: str, malformed: str
) -> None:
    with client.websocket_connect(f"ws://localhost{route}") as socket:
        assert socket.receive_json()["type"] == "session.created"
        socket.send_text(malformed)
        error = socket.receive_json()
        assert error["type"] == "error"
        assert error["error"]["code"] == "invalid_request"
        assert error["error"]["message"].startswith("Bad event")
        socket.send_json({"type": "session.update", "session": {}})
        assert socket.receive_json()["type"] == "session.updated"


def test_an_unexpected_failure_in_one_event_is_an_error_event_not_the_end_of_the_session(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    whisper = client.app_state["engines"].transcriber("whisper-1").engine  # type: ignore[union-attr]

    def broken(*_: object) -> None:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(whisper, "transcribe", broken)
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        socket.receive_json()
        socket.send_bytes(b"\0" * FRAME)
        socket.send_json({"type": "input_audio_buffer.commit"})
        events = events_until(socket, "error")
        assert events[-1]["error"]["code"] == "internal_error"
        monkeypatch.undo()  # the engine works again, and so does the session
        socket.send_json({"type": "input_audio_buffer.commit"})
        assert events_until(socket, "conversation.item.input_audio_transcription.completed")[-1]["type"] != "error"


def test_a_long_silence_keeps_the_buffer_small_and_the_session_clock_right(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    scored: list[int] = []  # samples per VAD step; the real detector still answers
    push = SileroStream.push

    def measured_push(self: SileroStream, audio: np.ndarray) -> Any:
        scored.append(audio.size)
        return push(self, audio)

    monkeypatch.setattr(SileroStream, "push", measured_push)
    whisper = client.app_state["engines"].transcriber("whisper-1").engine  # type: ignore[union-attr]
    transcribed: list[float] = []
    transcribe = whisper.transcribe

    def measured_transcribe(audio: np.ndarray, options: Any) -> Any:
        transcribed.append(audio.size / 16_000)
        return transcribe(audio, options)

    monkeypatch.setattr(whisper, "transcribe", measured_transcribe)
    speech = client.post(
        "/v1/audio/speech", json={"voice": "en_US-joe-medium", "input": TEXT, "response_format": "pcm"}
    ).content
    silence_s = 30
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        socket.receive_json()
        for _ in range(silence_s * 10):
            socket.send_bytes(b"\0" * FRAME)
        audio = speech + b"\0" * (FRAME * 20)
        for start in range(0, len(audio), FRAME):
            socket.send_bytes(audio[start : start + FRAME])
        events = events_until(socket, "conversation.item.input_audio_transcription.completed")
    # Each step scores only its own 0.1 s frame (1 600 samples at 16 kHz), however long the silence before it.
    assert len(scored) >= silence_s * 10
    assert max(scored) == 1_600
    # Only a pre-roll of the silence is kept: the utterance transcribed is the speech and about a second more.
    assert max(transcribed) <= len(speech) / 48_000 + 1.5
    started, completed = events[0], events[-1]
    assert started["type"] == "input_audio_buffer.speech_started"
    assert silence_s * 1000 - 100 <= started["audio_start_ms"] <= silence_s * 1000 + 400
    assert normalize(completed["transcript"]) == normalize(TEXT)
    assert completed["words"][0]["start"] >= silence_s - 0.3


@pytest.mark.parametrize("route", [LISTENING, SPEAKING])
def test_a_frame_over_the_limit_closes_the_socket_with_1009(app_client: AppClient, route: str) -> None:
    # The speaking session needs its engine (Piper); the transcription session's limit is checked before any.
    engines = {"tts": {"enabled": True}} if route == SPEAKING else {}
    client = app_client(engine_free_settings(realtime={"max_frame_bytes": 4096}, **engines))
    with client.websocket_connect(f"ws://localhost{route}") as socket:
        assert socket.receive_json()["type"] == "session.created"
        socket.send_bytes(b"\0" * 4098)
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 1009


def next_event_within(socket: Any, seconds: float) -> dict[str, Any]:
    """The next event; if none comes within `seconds`, a marker the server answers at once (`session.updated`) ends
    the wait, so a socket that was expected to close fails the test instead of hanging it."""
    marker = threading.Timer(seconds, socket.send_json, [{"type": "session.update", "session": {}}])
    marker.start()
    try:
        event: dict[str, Any] = socket.receive_json()
    finally:
        marker.cancel()
    return event


@pytest.mark.parametrize("route", [LISTENING, SPEAKING])
def test_a_socket_that_sends_nothing_is_closed_after_the_idle_timeout(app_client: AppClient, route: str) -> None:
    engines = {"tts": {"enabled": True}} if route == SPEAKING else {}
    client = app_client(engine_free_settings(realtime={"idle_timeout_s": 0.3}, **engines))
    with client.websocket_connect(f"ws://localhost{route}") as socket:
        assert socket.receive_json()["type"] == "session.created"
        with pytest.raises(WebSocketDisconnect) as closed:
            next_event_within(socket, 10)
    assert (closed.value.code, closed.value.reason) == (1000, "idle timeout")


def test_a_speaking_socket_is_not_idle_while_it_speaks_and_is_closed_once_it_is(app_client: AppClient) -> None:
    idle_s = 0.5
    client = app_client(engine_free_settings(tts={"enabled": True}, realtime={"idle_timeout_s": idle_s}))
    answer = " ".join(f"Point number {n} is worth a sentence of its own." for n in range(12))
    with client.websocket_connect("ws://localhost/v1/realtime/speech") as socket:
        assert socket.receive_json()["type"] == "session.created"
        socket.send_json({"type": "speech.text.delta", "delta": answer})
        socket.send_json({"type": "speech.text.done"})
        last_sent = time.monotonic()
        events = events_until(socket, "speech.audio.done")
        spoken_s = time.monotonic() - last_sent
        assert events[-1]["type"] == "speech.audio.done"
        assert spoken_s > 2 * idle_s  # the client was quiet for longer than the idle timeout while it spoke
        with pytest.raises(WebSocketDisconnect) as closed:
            next_event_within(socket, 10)
    assert (closed.value.code, closed.value.reason) == (1000, "idle timeout")


def test_text_arriving_faster_than_it_is_spoken_is_bounded(app_client: AppClient) -> None:
    client = app_client(engine_free_settings(tts={"enabled": True}, realtime={"max_queued_text_chars": 1024}))
    sentence = "This sentence waits its turn to be spoken aloud. "  # 49 characters
    with client.websocket_connect("ws://localhost/v1/realtime/speech") as socket:
        assert socket.receive_json()["type"] == "session.created"
        for _ in range(40):  # ≈2 000 characters at once: far faster than Piper speaks them
            socket.send_json({"type": "speech.text.delta", "delta": sentence})
        # Answered after every delta before it, refusals included: the wait ends even if nothing is refused.
        socket.send_json({"type": "session.update", "session": {}})
        events = events_until(socket, "session.updated")  # or the first refusal
        assert "VOICE_REALTIME__MAX_QUEUED_TEXT_CHARS" in str(events[-1]), events[-1]
        socket.send_json({"type": "speech.cancel"})
        while socket.receive_json()["type"] != "speech.cancelled":  # the socket still answers, and cancel empties
            pass  # the queue: the refused deltas' errors and a last chunk may come first
    refused = [e for e in events if e["type"] == "error"]
    assert refused[0]["error"]["type"] == "invalid_request"
