"""The endpointer's decisions, frame by frame: onset, quiet moment, pause, resumption and the three ways a turn stops
by itself."""

import pytest

from voice.errors import InvalidRequest
from voice.realtime.endpointing import Endpointer, Onset, Pause, Quiet, Resumed, Stopped, StopReason, TurnDetection

FRAME_S = 0.032
SEMANTIC = TurnDetection("semantic_vad", 1300)
SERVER = TurnDetection("server_vad", 500)


def endpointer(detection: TurnDetection = SEMANTIC, transcribe_silence_ms: int = 128) -> Endpointer:
    return Endpointer(
        frame_s=FRAME_S,
        threshold=0.5,
        onset_ms=64,
        transcribe_silence_ms=transcribe_silence_ms,
        short_silence_ms=250,
        detection=detection,
    )


def frames(seconds: float, probability: float) -> list[float]:
    return [probability] * round(seconds / FRAME_S)


def test_speech_starts_after_the_onset_frames_at_the_first_of_them() -> None:
    listener = endpointer()
    assert listener.feed(frames(0.32, 0.1)) == []
    assert listener.feed([0.9]) == []  # one frame is not enough: a click
    assert listener.feed([0.1, 0.9]) == []
    assert listener.feed([0.9]) == [Onset(pytest.approx(0.384))]  # type: ignore[list-item]
    assert listener.speaking


def test_a_pause_is_reported_once_and_speech_resumes_only_after_the_onset_frames() -> None:
    listener = endpointer()
    listener.feed(frames(0.64, 0.9))
    moments = listener.feed(frames(0.3, 0.05))
    assert moments == [Quiet(pytest.approx(0.64)), Pause(pytest.approx(0.64))]  # type: ignore[list-item]
    assert listener.feed([0.9]) == []  # a single frame does not resume, nor restart the silence
    assert listener.feed([0.9]) == [Resumed()]
    assert not listener.paused
    end = pytest.approx(0.64 + 11 * FRAME_S)
    assert listener.feed(frames(0.3, 0.05)) == [Quiet(end), Pause(end)]  # type: ignore[arg-type]


def test_the_quiet_moment_comes_before_the_pause_and_any_speech_frame_before_the_pause_resumes() -> None:
    listener = endpointer()
    listener.feed(frames(0.64, 0.9))
    assert listener.in_speech
    assert listener.feed(frames(0.096, 0.05)) == []  # 3 frames: not yet 128 ms
    assert not listener.in_speech
    assert listener.feed([0.05]) == [Quiet(pytest.approx(0.64))]  # type: ignore[list-item]
    assert listener.feed([0.4]) == [Resumed()]  # under the threshold but within the hysteresis: still speech
    assert listener.in_speech
    assert listener.feed(frames(0.128, 0.05)) == [Quiet(pytest.approx(0.64 + 5 * FRAME_S))]  # type: ignore[list-item]
    assert listener.feed(frames(0.128, 0.05)) == [Pause(pytest.approx(0.64 + 5 * FRAME_S))]  # type: ignore[list-item]


def test_a_transcribe_silence_past_the_short_silence_means_at_the_pause() -> None:
    listener = endpointer(transcribe_silence_ms=400)
    listener.feed(frames(0.64, 0.9))
    assert listener.feed(frames(0.256, 0.05)) == [Quiet(pytest.approx(0.64)), Pause(pytest.approx(0.64))]  # type: ignore[list-item]


def test_semantic_vad_stops_with_timeout_after_the_longest_silence() -> None:
    listener = endpointer()
    listener.feed(frames(0.64, 0.9))
    moments = listener.feed(frames(1.4, 0.05))
    assert [type(moment) for moment in moments] == [Quiet, Pause, Stopped]
    assert moments[-1] == Stopped(pytest.approx(0.64), StopReason.TIMEOUT)  # type: ignore[arg-type]
    assert not listener.speaking


def test_server_vad_stops_on_its_silence_duration_and_still_reports_the_pause_first() -> None:
    listener = endpointer(SERVER)
    listener.feed(frames(0.64, 0.9))
    moments = listener.feed(frames(0.6, 0.05))
    end = pytest.approx(0.64)
    assert moments == [Quiet(end), Pause(end), Stopped(end, StopReason.SILENCE)]  # type: ignore[arg-type]


def test_frames_just_under_the_threshold_keep_an_utterance_going() -> None:
    listener = endpointer(SERVER)
    listener.feed(frames(0.64, 0.9))
    assert listener.feed(frames(1.0, 0.4)) == []  # within the hysteresis: still speech
    assert listener.speech_end_s == pytest.approx(0.64 + 31 * FRAME_S)


def test_turn_detection_is_parsed_in_openais_shape() -> None:
    assert TurnDetection.parse({"type": "semantic_vad"}, semantic=SEMANTIC, server=SERVER) == SEMANTIC
    assert TurnDetection.parse({"type": "server_vad"}, semantic=SEMANTIC, server=SERVER) == SERVER
    assert TurnDetection.parse(
        {"type": "server_vad", "silence_duration_ms": 300}, semantic=SEMANTIC, server=SERVER
    ) == TurnDetection("server_vad", 300)
    assert TurnDetection.parse(
        {"type": "semantic_vad", "text_end_of_turn": "client"}, semantic=SEMANTIC, server=SERVER
    ) == TurnDetection("semantic_vad", 1300, "client")
    # Where semantic_vad falls back to silence (no turn engine), there are no pauses whose words a client could read.
    assert (
        TurnDetection.parse({"type": "semantic_vad", "text_end_of_turn": "client"}, semantic=SERVER, server=SERVER)
        == SERVER
    )
    assert SEMANTIC.as_json() == {"type": "semantic_vad", "silence_duration_ms": 1300, "text_end_of_turn": "rules"}
    assert SERVER.as_json() == {"type": "server_vad", "silence_duration_ms": 500}
    bad_events = (
        {"type": "nope"},
        {"type": "server_vad", "silence_duration_ms": "300"},
        {"silence_duration_ms": 5},
        {"type": "semantic_vad", "text_end_of_turn": "model"},
    )
    for bad in bad_events:
        with pytest.raises(InvalidRequest, match="Bad event: turn_detection"):
            TurnDetection.parse(bad, semantic=SEMANTIC, server=SERVER)
