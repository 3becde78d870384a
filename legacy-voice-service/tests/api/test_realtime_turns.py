"""`WS /v1/realtime` turn taking through the real models (Silero, Smart Turn, Whisper; Piper speaks the audio):
fast speech onset, semantic end of turn, the transcript started at the pause, per-session turn detection.

In process (TestClient's WebSocket). Time is counted in audio, never on the clock: the server answers a
`session.update` sent after some audio after every event that audio caused."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tests.api.wer import normalize, word_error_rate
from tests.conftest import AppClient
from voice.settings import Settings

RATE = 24_000  # the socket's default input rate; Piper's pcm is 24 kHz too
FRAME = 2_400  # 0.1 s of pcm16 at 24 kHz, in bytes (1 200 samples of 2 bytes)
COMPLETED = "conversation.item.input_audio_transcription.completed"
STOPPED = "input_audio_buffer.speech_stopped"
PAUSED = "input_audio_buffer.paused"
# Smart Turn (on this Piper voice) hears "The council should vote on" as unfinished (p ≈ 0.01); other cuts, such as
# "I would like to know", Piper says with a falling, final intonation, and the model takes them as finished.
FIRST_PIECE = "The council should vote on"
SECOND_PIECE = "the proposal after lunch."
PAUSED_TEXT = f"{FIRST_PIECE} {SECOND_PIECE}"


def settings(**turn: Any) -> Settings:
    # No partials: every Whisper call is then a final or a speculative one, which the tests count.
    return Settings(
        _env_file=None, tts={"noise_scale": 0, "noise_w_scale": 0}, realtime={"partial_interval_s": 0}, turn=turn
    )


def silence(seconds: float) -> bytes:
    return b"\0" * (round(seconds * RATE) * 2)


def speak(client: Any, text: str) -> bytes:
    body = {"voice": "en_US-joe-medium", "input": text, "response_format": "pcm"}
    pcm: bytes = client.post("/v1/audio/speech", json=body).content
    assert len(pcm) > RATE  # over half a second of speech
    return pcm


def paused_sentence(client: Any, pause_s: float) -> bytes:
    """One sentence said in two pieces, the first stopping mid-sentence, with `pause_s` of silence put between
    (Piper's own silence at the end of a piece, 0.1 to 0.2 s, adds to it)."""
    return speak(client, FIRST_PIECE) + silence(pause_s) + speak(client, SECOND_PIECE)


def converse(client: Any, audio: bytes, turn_detection: Any = "default") -> list[dict[str, Any]]:
    """Every event of one session that hears `audio` in 0.1 s frames (after `turn_detection`, if given)."""
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        events = [socket.receive_json()]
        if turn_detection != "default":
            socket.send_json({"type": "session.update", "session": {"turn_detection": turn_detection}})
            events += until(socket, "session.updated")
        for start in range(0, len(audio), FRAME):
            socket.send_bytes(audio[start : start + FRAME])
        socket.send_json({"type": "session.update", "session": {}})  # answered after all the audio's events
        return events + until(socket, "session.updated")


def until(socket: Any, last: str) -> list[dict[str, Any]]:
    events = []
    while True:
        event = socket.receive_json()
        events.append(event)
        if event["type"] == last:
            return events


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] == kind]


def test_a_complete_utterance_is_one_turn_ended_by_the_turn_model_with_its_transcript_started_at_the_pause(
    app_client: AppClient, whisper_calls: Callable[[Any], list[float]]
) -> None:
    client = app_client(settings())
    text = "What will the weather be like tomorrow?"
    audio = silence(0.5) + speak(client, text) + silence(2.0)
    calls = whisper_calls(client)
    events = converse(client, audio)
    assert events[0]["session"]["turn_detection"] == {
        "type": "semantic_vad",
        "silence_duration_ms": 1300,
        "text_end_of_turn": "rules",
    }
    assert [event["type"] for event in events if event["type"] != "conversation.item.input_audio_transcription.delta"][
        1:
    ] == [
        "input_audio_buffer.speech_started",
        PAUSED,  # the pause's transcript, said before the turn is decided
        STOPPED,
        "input_audio_buffer.committed",
        COMPLETED,
        "session.updated",
    ]
    assert of(events, PAUSED)[0]["transcript"] == of(events, COMPLETED)[0]["transcript"]
    assert of(events, STOPPED)[0]["reason"] == "both"  # Smart Turn is sure, and the words are a whole question
    assert normalize(of(events, COMPLETED)[0]["transcript"]) == normalize(text)
    assert len(calls) == 1  # the transcript started at the pause was the final one: no second pass


def test_a_mid_sentence_pause_stays_one_turn_under_semantic_vad_and_its_early_transcript_is_dropped(
    app_client: AppClient, whisper_calls: Callable[[Any], list[float]]
) -> None:
    client = app_client(settings())
    audio = silence(0.5) + paused_sentence(client, 0.5) + silence(2.0)
    calls = whisper_calls(client)
    events = converse(client, audio, {"type": "semantic_vad"})
    assert of(events, "session.updated")[0]["session"]["turn_detection"]["type"] == "semantic_vad"
    assert len(of(events, "input_audio_buffer.speech_started")) == 1
    assert [event["reason"] for event in of(events, STOPPED)] == ["audio"]
    (completed,) = of(events, COMPLETED)
    assert normalize(completed["transcript"]) == normalize(PAUSED_TEXT)
    # Transcribing began at the pause (the first piece); speech resumed, so that transcript was thrown away and the
    # final read the whole sentence, second piece included (over a second more).
    assert len(calls) == 2
    assert calls[0] + 1.0 < calls[1]


def without_trailing_silence(pcm: bytes) -> bytes:
    samples = np.frombuffer(pcm, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples) > 300)
    return samples[: loud[-1] + 1].tobytes()


def test_the_transcript_starts_at_a_quiet_moment_shorter_than_the_pause_and_serves_as_a_partial_if_speech_resumes(
    app_client: AppClient, whisper_calls: Callable[[Any], list[float]]
) -> None:
    client = app_client(settings())  # transcribe silence 128 ms, short silence (the pause) 250 ms
    head = without_trailing_silence(speak(client, FIRST_PIECE))
    audio = silence(0.5) + head + silence(0.19) + speak(client, SECOND_PIECE) + silence(2.0)
    calls = whisper_calls(client)
    events = converse(client, audio)
    assert len(of(events, "input_audio_buffer.speech_started")) == 1
    (completed,) = of(events, COMPLETED)
    assert normalize(completed["transcript"]) == normalize(PAUSED_TEXT)
    assert [event["transcript"] for event in of(events, PAUSED)] == [completed["transcript"]]  # the end's only
    # Reading began 128 ms into the 190 ms gap (the pause never came): the first piece, then the whole sentence.
    assert len(calls) == 2
    assert abs(calls[0] - (len(head) / 2 / RATE + 0.5)) < 0.4  # the first piece (pre-roll included), not more
    assert calls[0] + 1.0 < calls[1]


@pytest.mark.parametrize(("text_audio_floor", "reasons"), [(0.0, ["text"]), (0.99, [])])
def test_a_whole_question_ends_the_turn_by_its_words_when_the_turn_model_is_unsure(
    app_client: AppClient, text_audio_floor: float, reasons: list[str]
) -> None:
    # Smart Turn scores Piper's question ≈0.97: a threshold of 0.99 makes it unsure, as it is of calm, flat voices
    # (espeak-ng's "Why is the sky blue?" ≈0.01, bench/voice/turn_signals.py). The words, a whole question, end the
    # turn at the pause; with the floor at the threshold they may not, and 0.8 s of silence leaves the turn open
    # (the longest silence, 1.3 s, would end it).
    client = app_client(settings(threshold=0.99, text_audio_floor=text_audio_floor))
    text = "What will the weather be like tomorrow?"
    events = converse(client, silence(0.5) + speak(client, text) + silence(0.8))
    assert [event["reason"] for event in of(events, STOPPED)] == reasons
    if reasons:
        assert normalize(of(events, COMPLETED)[0]["transcript"]) == normalize(text)


@pytest.mark.parametrize("hold_unfinished", [True, False])
def test_a_pause_after_a_word_no_turn_ends_on_is_held_though_the_turn_model_hears_an_end(
    app_client: AppClient, hold_unfinished: bool
) -> None:
    # Piper says "Please send the report to" with a final, falling pitch: Smart Turn scores it done (p ≈ 0.96).
    client = app_client(settings(hold_unfinished=hold_unfinished))
    first, rest = "Please send the report to", "the finance team before Friday."
    audio = silence(0.5) + speak(client, first) + silence(0.7) + speak(client, rest) + silence(2.0)
    events = converse(client, audio)
    heard = [normalize(event["transcript"]) for event in of(events, COMPLETED)]
    if hold_unfinished:  # the transcript so far ends on "to": the turn waits, and the sentence is one turn
        assert [event["reason"] for event in of(events, STOPPED)] == ["audio"]
        assert heard == [normalize(f"{first} {rest}")]
    else:  # the model alone cuts the speaker off mid-sentence
        assert [event["reason"] for event in of(events, STOPPED)] == ["audio", "audio"]
        assert heard == [normalize(first), normalize(rest)]


def test_speech_that_resumes_while_the_held_pause_waits_for_its_transcript_keeps_the_turn(
    app_client: AppClient, whisper_calls: Callable[[Any], list[float]]
) -> None:
    # Smart Turn takes Piper's "I would like to know" for a finished turn (p ≈ 0.97) and the hold does not catch
    # it (it ends on no such word). The audio goes in far faster than real time, so the speaker goes on (0.6 s
    # later in the audio) while the transcript started at the pause is still being read: the turn must stay open.
    # The old session stopped reading the socket while it waited and then cut the sentence in two.
    client = app_client(settings())
    first, rest = "I would like to know", "the weather in Paris tomorrow."
    audio = silence(0.5) + speak(client, first) + silence(0.6) + speak(client, rest) + silence(2.0)
    calls = whisper_calls(client)
    events = converse(client, audio)
    assert [event["reason"] for event in of(events, STOPPED)] == ["audio"]
    (completed,) = of(events, COMPLETED)
    # One turn with both pieces' words; Whisper may mishear one of nine ("pairs" for "Paris" on some CPUs).
    assert word_error_rate([f"{first} {rest}"], [completed["transcript"]]) <= 1 / 9
    assert len(calls) == 2  # the transcript started at the first pause was thrown away
    assert [event["type"] for event in events if not event["type"].endswith(".delta") and event["type"] != PAUSED][
        1:
    ] == [
        "input_audio_buffer.speech_started",
        STOPPED,
        "input_audio_buffer.committed",
        COMPLETED,
        "session.updated",
    ]


def test_a_pause_says_its_transcript_while_the_turn_is_open_and_resuming_voids_it(app_client: AppClient) -> None:
    # "The council should vote on": Smart Turn hears it unfinished and the words end on "on", so the turn stays open;
    # the transcript of the pause still goes out at once (a client may start answering it), and when the speaker
    # goes on, `resumed` says that transcript is void.
    client = app_client(settings())
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        socket.receive_json()
        first = silence(0.5) + speak(client, FIRST_PIECE) + silence(0.6)
        for start in range(0, len(first), FRAME):
            socket.send_bytes(first[start : start + FRAME])
        socket.send_json({"type": "session.update", "session": {}})  # answered once the held pause has settled
        paused_events = until(socket, "session.updated")
        (paused,) = of(paused_events, PAUSED)
        assert normalize(paused["transcript"]) == normalize(FIRST_PIECE)
        assert not of(paused_events, STOPPED)
        rest = speak(client, SECOND_PIECE) + silence(2.0)
        for start in range(0, len(rest), FRAME):
            socket.send_bytes(rest[start : start + FRAME])
        socket.send_json({"type": "session.update", "session": {}})
        events = until(socket, "session.updated")
    kinds = [event["type"] for event in events]
    assert kinds.index("input_audio_buffer.resumed") < kinds.index(STOPPED)
    assert of(events, "input_audio_buffer.resumed")[0]["item_id"] == paused["item_id"]
    assert normalize(of(events, COMPLETED)[0]["transcript"]) == normalize(PAUSED_TEXT)


def test_the_same_pause_ends_the_turn_under_server_vad_with_a_short_silence(app_client: AppClient) -> None:
    client = app_client(settings())
    audio = silence(0.5) + paused_sentence(client, 0.5) + silence(2.0)
    events = converse(client, audio, {"type": "server_vad", "silence_duration_ms": 300})
    assert of(events, "session.updated")[0]["session"]["turn_detection"] == {
        "type": "server_vad",
        "silence_duration_ms": 300,
    }
    assert [event["reason"] for event in of(events, STOPPED)] == ["silence", "silence"]
    first, second = (normalize(event["transcript"]) for event in of(events, COMPLETED))
    assert first == normalize(FIRST_PIECE)
    assert second == normalize(SECOND_PIECE)


def test_speech_onset_is_reported_within_150_ms_of_speech_counted_in_audio(app_client: AppClient) -> None:
    client = app_client(settings())
    speech = speak(client, "Wait, I have a question.")
    samples = np.frombuffer(speech, dtype="<i2").astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(samples) > 0.02)  # -34 dBFS: where the voice really begins
    onset_ms = 1000 + loud[0] / RATE * 1000
    audio = silence(1.0) + speech
    step = FRAME // 5  # 20 ms, as a browser's audio worklet sends
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        socket.receive_json()
        for start in range(0, len(audio), step):
            socket.send_bytes(audio[start : start + step])
            socket.send_json({"type": "session.update", "session": {}})
            started = of(until(socket, "session.updated"), "input_audio_buffer.speech_started")
            if started:
                sent_ms = (start + step) / 2 / RATE * 1000
                break
        else:
            pytest.fail("no speech_started")
    assert sent_ms - onset_ms <= 150
    assert abs(started[0]["audio_start_ms"] - onset_ms) <= 100


def test_a_session_can_turn_detection_off_and_commit_by_hand(app_client: AppClient) -> None:
    client = app_client(settings())
    audio = silence(0.5) + speak(client, "The council will vote after lunch.") + silence(2.0)
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        socket.receive_json()
        socket.send_json({"type": "session.update", "session": {"turn_detection": None}})
        assert socket.receive_json()["session"]["turn_detection"] is None
        socket.send_bytes(audio)
        socket.send_json({"type": "input_audio_buffer.commit"})
        events = until(socket, COMPLETED)
    assert [event["type"] for event in events if not event["type"].endswith(".delta")] == [
        "input_audio_buffer.committed",
        COMPLETED,
    ]
    assert normalize(events[-1]["transcript"]) == normalize("The council will vote after lunch.")


def test_an_utterance_that_reaches_the_length_limit_stops_with_reason_max_length(app_client: AppClient) -> None:
    client = app_client(Settings(_env_file=None, realtime={"partial_interval_s": 0}, limits={"max_audio_seconds": 2}))
    audio = silence(0.5) + speak(client, "The council met this morning to discuss the budget for next year.")
    events = converse(client, audio)
    assert of(events, STOPPED)[0]["reason"] == "max_length"
    assert of(events, COMPLETED)


def test_the_silence_engine_chosen_by_settings_ends_turns_on_silence(app_client: AppClient) -> None:
    client = app_client(settings(engine="silence"))
    assert [loaded.name for loaded in client.app_state["engines"].turn] == ["silence"]  # type: ignore[union-attr]
    audio = silence(0.5) + paused_sentence(client, 0.7) + silence(1.0)
    # semantic_vad cannot be had without a semantic engine: the effective detection says so.
    events = converse(client, audio, {"type": "semantic_vad"})
    assert events[0]["session"]["turn_detection"] == {"type": "server_vad", "silence_duration_ms": 500}
    assert of(events, "session.updated")[0]["session"]["turn_detection"]["type"] == "server_vad"
    assert [event["reason"] for event in of(events, STOPPED)] == ["silence", "silence"]
    models = {model["id"]: model for model in client.get("/v1/models").json()["data"]}
    assert models["silence"]["task"] == "turn"
    assert "smart-turn-v3.2" not in models


def send_audio(socket: Any, audio: bytes) -> None:
    for start in range(0, len(audio), FRAME):
        socket.send_bytes(audio[start : start + FRAME])


@pytest.mark.parametrize(
    ("reading", "reasons"),
    [
        (0.0, ["timeout"]),  # the client's model reads the words as unfinished: the audio's "done" waits
        (1e-4, ["audio"]),  # it reads them as finished enough: Smart Turn's verdict stands at the pause
        (0.5, ["both"]),  # it reads them as a finished turn, as Smart Turn hears one
        (None, ["audio"]),  # no reading within the wait: the rules on the words decide alone
    ],
)
def test_a_clients_reading_of_the_pauses_words_can_hold_the_turn_smart_turn_ends(
    app_client: AppClient, reading: float | None, reasons: list[str]
) -> None:
    # Piper's "I would like to know" sounds finished to Smart Turn (p ≈ 0.97) and ends on no dangling word, so the
    # rules alone end the turn at the pause. A client that reads words (text_end_of_turn: client) is waited for.
    client = app_client(settings(client_words_wait_ms=300))
    head = silence(0.5) + speak(client, "I would like to know") + silence(0.6)
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        socket.receive_json()
        detection = {"type": "semantic_vad", "text_end_of_turn": "client"}
        socket.send_json({"type": "session.update", "session": {"turn_detection": detection}})
        assert until(socket, "session.updated")[-1]["session"]["turn_detection"] == {
            "type": "semantic_vad",
            "silence_duration_ms": 1300,
            "text_end_of_turn": "client",
        }
        send_audio(socket, head)
        events = until(socket, PAUSED)
        paused = events[-1]
        if reading is not None:
            socket.send_json(
                {
                    "type": "input_audio_buffer.text_end_of_turn",
                    "item_id": paused["item_id"],
                    "audio_end_ms": paused["audio_end_ms"],
                    "probability": reading,
                }
            )
        send_audio(socket, silence(1.5))
        socket.send_json({"type": "session.update", "session": {}})  # answered after all the audio's events
        events += until(socket, "session.updated")
    assert [event["reason"] for event in of(events, STOPPED)] == reasons
    (stopped,) = of(events, STOPPED)
    assert stopped["audio_end_ms"] <= paused["audio_end_ms"]  # cut where the speech ended, whatever decided
    assert normalize(of(events, COMPLETED)[0]["transcript"]) == normalize("I would like to know")


def test_a_reading_for_a_pause_that_has_passed_is_ignored_and_a_bad_one_refused(app_client: AppClient) -> None:
    client = app_client(settings())
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        socket.receive_json()
        stale = {"type": "input_audio_buffer.text_end_of_turn", "item_id": "item_gone", "audio_end_ms": 5}
        socket.send_json({**stale, "probability": 0.5})
        socket.send_json({**stale, "probability": 2})
        error = socket.receive_json()
        assert error["type"] == "error"
        assert "probability must be a number from 0 to 1" in error["error"]["message"]
        socket.send_json({"type": "session.update", "session": {}})
        assert socket.receive_json()["type"] == "session.updated"  # the stale one said nothing; the session goes on
