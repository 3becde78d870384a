"""`WS /v1/realtime` partial transcripts: stable words as deltas while someone speaks, the final one authoritative.

In process with the real bundled engines; the audio is streamed at the pace of a live microphone, since partials
are due by the clock (VOICE_REALTIME__PARTIAL_INTERVAL_S)."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.test_realtime import FRAME, events_until
from tests.api.wer import normalize
from tests.conftest import AppClient
from voice.realtime.stable_words import StableWords
from voice.settings import Settings

# About eight seconds of speech: room for several partials before the end of the utterance.
TEXT = (
    "The council met this morning to discuss the budget for next year, and after a long debate "
    "the members agreed to vote on the proposal after lunch."
)
DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"


def council_settings(**realtime: float) -> Settings:
    # No read at the sentence's comma (a quiet moment: test_realtime_turns covers those): the calls counted here are
    # the partials' and the final's.
    turn = {"transcribe_silence_ms": 250}
    return Settings(_env_file=None, tts={"noise_scale": 0, "noise_w_scale": 0}, realtime=realtime, turn=turn)


CouncilApp = Callable[..., tuple[Any, list[float]]]


@pytest.fixture
def council_app(app_client: AppClient, whisper_calls: Callable[[Any], list[float]]) -> CouncilApp:
    """Starts the app on `council_settings(**realtime)`: its client, and the seconds of audio of each Whisper call."""

    def start(**realtime: float) -> tuple[Any, list[float]]:
        client = app_client(council_settings(**realtime))
        return client, whisper_calls(client)

    return start


def live(audio: bytes) -> Iterator[bytes]:
    """0.1 s frames at the pace a microphone delivers them."""
    started = time.monotonic()
    for index, start in enumerate(range(0, len(audio), FRAME)):
        time.sleep(max(0.0, started + index * 0.1 - time.monotonic()))
        yield audio[start : start + FRAME]


def utterance(client: Any) -> bytes:
    speech: bytes = client.post(
        "/v1/audio/speech", json={"voice": "en_US-joe-medium", "input": TEXT, "response_format": "pcm"}
    ).content
    assert len(speech) / 48_000 > 6
    return b"\0" * (FRAME * 5) + speech + b"\0" * (FRAME * 10)


def spoken_utterance_events(client: Any) -> list[dict[str, Any]]:
    """The events of one realtime session that hears the utterance at a live microphone's pace."""
    audio = utterance(client)
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        socket.receive_json()
        for frame in live(audio):
            socket.send_bytes(frame)
        return events_until(socket, COMPLETED)


def test_stable_words_only_append_what_two_hypotheses_agree_on() -> None:
    stable = StableWords()
    assert stable.agree("The council") == ""  # one hypothesis is never enough
    assert stable.agree("The council will") == "The council"
    assert stable.agree("The council will vote after") == " will"
    assert stable.agree("A council will vote after lunch") == ""  # contradicts what was sent: wait
    assert stable.agree("The council will vote after lunch") == ""
    assert stable.agree("The council will vote after lunch.") == " vote after"
    assert stable.finish("The council will vote after lunch.") == " lunch."
    assert stable.sent == ["The", "council", "will", "vote", "after", "lunch."]
    # Case and punctuation do not make a word another: a final that reads "Council," still continues "council".
    recased = StableWords()
    recased.agree("The council met")
    assert recased.agree("The council met this") == "The council met"
    assert recased.finish("The Council met, this morning.") == " this morning."
    assert normalize(" ".join(recased.sent)) == normalize("The council met this morning")
    changed = StableWords()
    changed.agree("The council")
    changed.agree("The council")
    assert changed.finish("A council met.") == ""  # the final starts otherwise; `completed` has the transcript


def test_partial_deltas_arrive_while_speaking_and_add_up_to_the_final_transcript(council_app: CouncilApp) -> None:
    client, calls = council_app()
    audio = utterance(client)
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        assert socket.receive_json()["type"] == "session.created"
        for index, frame in enumerate(live(audio)):
            socket.send_bytes(frame)
            if index == 50:  # mid-sentence, with partials going on: the session still answers at once
                socket.send_json({"type": "session.update", "session": {}})
        events = events_until(socket, COMPLETED)
    kinds = [event["type"] for event in events]
    assert "error" not in kinds
    stopped = kinds.index("input_audio_buffer.speech_stopped")
    # A delta while speaking. How many come before the end depends on how fast the machine transcribes (CI under
    # load got one where a quiet machine gets three or more), so the count is not asserted.
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index(DELTA) < stopped
    assert kinds.index("session.updated") < stopped
    assert kinds[stopped + 1] == "input_audio_buffer.committed"
    completed = events[-1]
    deltas = [event["delta"] for event in events if event["type"] == DELTA]
    assert {event["item_id"] for event in events if event["type"] == DELTA} == {completed["item_id"]}
    # Append-only deltas that spell out the authoritative final transcript, which keeps its word timestamps.
    assert normalize("".join(deltas)) == normalize(completed["transcript"])
    assert normalize(completed["transcript"])[:6] == normalize(TEXT)[:6]
    assert [word["word"] for word in completed["words"]] == completed["transcript"].split()
    # The partials re-read the utterance so far (growing), then the final reads all of it (up to its end) once.
    assert len(calls) >= 3
    assert calls[:-1] == sorted(calls[:-1])
    assert calls[-1] > 6


def test_with_the_interval_zero_deltas_come_only_after_the_speech_ends(council_app: CouncilApp) -> None:
    client, calls = council_app(partial_interval_s=0)
    # The pause's transcript (`paused`, not a delta) may go out before the turn ends; no delta does.
    events = [event for event in spoken_utterance_events(client) if event["type"] != "input_audio_buffer.paused"]
    kinds = [event["type"] for event in events]
    assert kinds == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        DELTA,
        COMPLETED,
    ]
    assert events[3]["delta"] == events[4]["transcript"]
    assert len(calls) == 1


def test_no_partials_once_the_utterance_outgrows_the_cap(council_app: CouncilApp) -> None:
    client, calls = council_app(partial_max_utterance_s=3)
    events = spoken_utterance_events(client)
    assert len(calls) >= 2
    assert max(calls[:-1]) <= 3  # partials: only while the utterance (with its pre-roll) was short
    assert calls[-1] > 6  # the final: all of it
    assert normalize(events[-1]["transcript"])[:6] == normalize(TEXT)[:6]


def test_a_busy_stt_queue_skips_partials_rather_than_refusing_them(council_app: CouncilApp) -> None:
    client, calls = council_app()
    queue = client.app_state["engines"].transcriber("whisper-1").queue  # type: ignore[union-attr]
    queue.running += 1  # as if an upload held the only slot for the whole utterance (the slot itself stays free)
    try:
        events = spoken_utterance_events(client)  # its speech comes from the TTS engine, whose queue is its own
    finally:
        queue.running -= 1
    kinds = [event["type"] for event in events]
    assert "error" not in kinds  # no 429 for a partial; it was simply not attempted
    assert DELTA not in kinds[: kinds.index("input_audio_buffer.speech_stopped")]
    assert len(calls) == 1
    assert events[-1]["transcript"]
