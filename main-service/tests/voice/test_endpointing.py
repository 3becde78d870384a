"""Endpointing decisions on a live stream. The VAD model lives in the voice service, so detections are scripted
here from a timeline (speech between known seconds); the real model runs in tests/test_voice_socket.py."""

import pytest

from council.voice.endpointing import Endpointer, EndpointerConfig, SpeechEnded, SpeechStarted
from council.voice.pcm import duration_s
from council.voice.speech import SpeechSpan

pytestmark = pytest.mark.anyio

RATE = 16_000
FRAME = b"\0\0" * 320  # 20 ms


class Timeline:
    """Answers VAD for the buffer the endpointer sends, given when speech happened in the whole stream."""

    def __init__(self, speech: tuple[float, float]) -> None:
        self.speech = speech
        self.fed_s = 0.0
        self.calls = 0

    async def detect(self, pcm: bytes) -> list[SpeechSpan]:
        self.calls += 1
        window_start = self.fed_s - duration_s(pcm, RATE)
        start, end = (max(t - window_start, 0.0) for t in self.speech)
        window = duration_s(pcm, RATE)
        if end <= 0 or start >= window:
            return []
        return [SpeechSpan(start, min(end, window))]


async def feed_seconds(endpointer: Endpointer, timeline: Timeline, seconds: float) -> list[object]:
    signals: list[object] = []
    for _ in range(round(seconds / 0.02)):
        timeline.fed_s += 0.02
        signals += await endpointer.feed(FRAME)
    return signals


async def test_speech_then_silence_gives_start_then_one_utterance_with_pre_roll() -> None:
    timeline = Timeline(speech=(1.0, 2.5))
    endpointer = Endpointer(timeline.detect, EndpointerConfig(RATE, check_every_s=0.3, silence_s=0.7, pre_roll_s=0.3))

    signals = await feed_seconds(endpointer, timeline, 4.0)

    assert [type(s) for s in signals] == [SpeechStarted, SpeechEnded]
    utterance = signals[1]
    assert isinstance(utterance, SpeechEnded)
    assert 1.5 <= utterance.seconds <= 2.4  # the speech, a little audio before it, a little after


async def test_silence_alone_never_signals_and_keeps_the_buffer_small() -> None:
    timeline = Timeline(speech=(100.0, 101.0))
    endpointer = Endpointer(timeline.detect, EndpointerConfig(RATE))

    assert await feed_seconds(endpointer, timeline, 5.0) == []
    assert duration_s(endpointer.buffer, RATE) <= 0.3 + 0.3
    assert timeline.calls == pytest.approx(5.0 / 0.3, abs=1)  # one check per 0.3 s of audio, not per frame


async def test_an_endless_utterance_is_cut_at_the_maximum() -> None:
    timeline = Timeline(speech=(0.5, 100.0))
    endpointer = Endpointer(timeline.detect, EndpointerConfig(RATE, max_utterance_s=3.0))

    signals = await feed_seconds(endpointer, timeline, 3.5)

    assert any(isinstance(s, SpeechEnded) and s.seconds == pytest.approx(3.0, abs=0.05) for s in signals)
