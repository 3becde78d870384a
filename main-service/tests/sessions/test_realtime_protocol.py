"""The Realtime protocol adapter as a plain class: notices in, OpenAI Realtime server events out (each checked
against the `openai` SDK's own event models), and `session.update` read field by field. No sockets."""

import base64
from typing import Any

import pytest
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from council.orchestrator.events import FinalEvent, MemberDeltaEvent, ModelCall, RouteEvent, SynthesisDeltaEvent
from council.sessions.idle import IdleTimer
from council.sessions.realtime_protocol import RealtimeProtocol
from council.sessions.realtime_session_config import RealtimeConfig, Refused, updated
from council.sessions.voice_notices import (
    AudioEnded,
    AudioStarted,
    BargeIn,
    Failure,
    Heard,
    Notice,
    SpeechBegan,
    SpeechEnded,
    TurnCancelled,
    TurnEnded,
    TurnEvent,
    Words,
)

SERVER_EVENT = TypeAdapter[Any](RealtimeServerEvent)
VOICES = frozenset({"en_US-joe-medium"})


def protocol(**config: Any) -> RealtimeProtocol:
    return RealtimeProtocol(RealtimeConfig("fast", "en_US-joe-medium", **config), request_id="req-1")


def feed(protocol: RealtimeProtocol, *notices: Notice | bytes) -> list[dict[str, Any]]:
    events = [event for notice in notices for event in protocol.encode(notice)]
    for event in events:
        if not event["type"].startswith("council."):
            SERVER_EVENT.validate_python(event)
    return events


def call() -> ModelCall:
    return ModelCall(
        role="analytical", phase="fast", model="m", input_tokens=7, output_tokens=5, ttft_ms=1, latency_ms=2
    )


def final(answer: str) -> FinalEvent:
    return FinalEvent(t_ms=1, thread_id="t", path="fast", reason="r", answer=answer, members=[], calls=[call()],
                      total_ms=2)  # fmt: skip


def test_a_spoken_turn_is_an_item_then_a_response_with_audio_and_transcript() -> None:
    realtime = protocol()
    events = feed(
        realtime,
        SpeechBegan(120),
        Words("Hello "),
        SpeechEnded(1.2, "audio", 1320),
        Heard("Hello there", "turn-1"),
        TurnEvent("turn-1", RouteEvent(t_ms=0, path="fast", reason="short")),
        TurnEvent("turn-1", SynthesisDeltaEvent(t_ms=1, role="analytical", text="Hi.")),
        AudioStarted("turn-1", "answer", "en_US-joe-medium", None),
        bytes(4800),
        AudioEnded("turn-1", "answer"),
        TurnEvent("turn-1", final("Hi.")),
        TurnEnded("turn-1"),
    )
    types = [e["type"] for e in events]
    assert types[:4] == ["input_audio_buffer.speech_started", "conversation.item.input_audio_transcription.delta",
                         "input_audio_buffer.speech_stopped", "input_audio_buffer.committed"]  # fmt: skip
    user_item = events[0]["item_id"]
    assert {e.get("item_id") for e in events[:4]} == {user_item}
    assert events[0]["audio_start_ms"] == 120
    assert "council.route" in types
    assert "council.final" in types
    audio = next(e for e in events if e["type"] == "response.output_audio.delta")
    assert base64.b64decode(audio["delta"]) == bytes(4800)
    done = events[-1]["response"]
    assert (done["status"], done["usage"]) == ("completed", {"input_tokens": 7, "output_tokens": 5, "total_tokens": 12})
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": "Hi."}]
    assert realtime.by_item[done["output"][0]["id"]].audio_ms == 100  # 4800 bytes of 24 kHz s16le


def test_a_barge_in_ends_the_response_cancelled_by_turn_detection() -> None:
    realtime = protocol()
    feed(realtime, TurnEvent("t", SynthesisDeltaEvent(t_ms=1, role="analytical", text="Long")))
    events = feed(realtime, BargeIn("t"), TurnCancelled("t"), TurnEnded("t"))
    done = events[-1]["response"]
    assert (done["status"], done["status_details"]["reason"]) == ("cancelled", "turn_detected")
    assert not any(e["type"] == "response.output_audio.done" for e in events)


def test_a_text_session_streams_output_text_and_extension_events_for_the_deliberation() -> None:
    realtime = protocol(modality="text")
    events = feed(
        realtime,
        TurnEvent("t", MemberDeltaEvent(t_ms=1, member="critical", phase="answer", text="x")),
        TurnEvent("t", SynthesisDeltaEvent(t_ms=2, role="chair", text="Four.")),
        TurnEnded("t"),
    )
    member = next(e for e in events if e["type"] == "council.member.delta")
    assert (member["member"], member["text"]) == ("critical", "x")
    assert next(e for e in events if e["type"] == "response.output_text.done")["text"] == "Four."


def test_a_failure_is_an_openai_error_with_the_request_id() -> None:
    error = feed(protocol(), Failure("rate_limited", "slow down", "t", 5))[0]["error"]
    assert (error["type"], error["code"], error["request_id"]) == ("rate_limit_error", "rate_limited", "req-1")


def test_user_words_wait_for_response_create_when_responses_are_the_clients() -> None:
    realtime = protocol(turn_detection={"type": "server_vad", "create_response": False})
    assert not realtime.config.respond
    feed(realtime, Heard("first", None))
    realtime.text_item("second")
    assert realtime.take_pending() == "first\nsecond"
    assert realtime.take_pending() == ""


def test_session_update_applies_what_it_can_and_names_the_rest() -> None:
    config = RealtimeConfig("fast", "en_US-joe-medium")
    session = {
        "type": "realtime",
        "output_modalities": ["text"],
        "instructions": "Be a pirate.",
        "audio": {
            "input": {"format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": None, "noise_reduction": {}},
            "output": {"voice": "alloy"},
        },
    }
    new, ignored = updated(config, session, VOICES)
    assert (new.modality, new.detection, new.voice, new.respond) == ("text", "manual", None, False)
    assert ignored == ["session.instructions", "session.audio.input.noise_reduction"]


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"audio": {"input": {"format": {"type": "audio/pcmu"}}}}, "session.audio.input.format"),
        ({"audio": {"output": {"voice": "nobody"}}}, "session.audio.output.voice"),
        ({"tools": [{"type": "function", "name": "f"}]}, "session.tools"),
        ({"type": "transcription"}, "session.type"),
        (
            {"audio": {"input": {"turn_detection": {"type": "server_vad", "interrupt_response": False}}}},
            "session.audio.input.turn_detection.interrupt_response",
        ),
    ],
)
def test_session_update_refuses_what_would_mislead_the_client(session: dict[str, Any], param: str) -> None:
    with pytest.raises(Refused) as refused:
        updated(RealtimeConfig("fast", "v"), session, VOICES)
    assert refused.value.param == param


def test_the_idle_timer_runs_out_unless_something_counts_as_activity() -> None:
    now = [0.0]
    timer = IdleTimer(10, clock=lambda: now[0])
    now[0] = 6
    timer.active()
    now[0] = 15
    assert timer.left_s() == 1
    now[0] = 17
    assert timer.left_s() == 0
