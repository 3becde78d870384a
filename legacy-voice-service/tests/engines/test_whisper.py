"""Whisper's encoder window (VOICE_STT__WHISPER_WINDOW_S, opt-in): with 10, short speech is read in a 10 s window
instead of the padded 30 s, with word timestamps that land where the full window's do; long speech, and a short
read that repeats itself, get the full window. Its cost in word errors is measured in bench/voice/stt_tts.py."""

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.api.wer import normalize, word_error_rate
from voice.engines.base import TranscriptionOptions
from voice.engines.stt.whisper import WhisperSTT, _loops
from voice.engines.tts.piper import PiperTTS
from voice.settings import SttSettings, TtsSettings, VadSettings

SENTENCES = [
    "What is the capital of France?",
    "Please send the report to the finance team before Friday.",
    "My question is about the best way to learn a new language.",
    "The council met this morning to discuss the budget for next year.",
]
WER_BOUND = 0.15  # the same bound as the round trip through the service (tests/api/test_roundtrip.py)


@pytest.fixture(scope="module")
def piper() -> PiperTTS:
    engine = PiperTTS(TtsSettings(noise_scale=0, noise_w_scale=0))
    engine.load()
    return engine


def speech(piper: PiperTTS, text: str) -> np.ndarray:
    """Piper's 22.05 kHz voice at Whisper's 16 kHz (linear interpolation is enough for a transcript)."""
    audio = np.concatenate(list(piper.synthesize(text, piper.voice_id, 1.0)))
    positions = np.arange(0, audio.size, piper.sample_rate / 16_000)
    resampled: np.ndarray = np.interp(positions, np.arange(audio.size), audio).astype(np.float32)
    return resampled


def whisper(window_s: int) -> tuple[WhisperSTT, list[int]]:
    """A loaded Whisper whose encoder calls record how many frames they read."""
    engine = WhisperSTT(SttSettings(whisper_window_s=window_s), VadSettings())
    engine.load()
    frames: list[int] = []
    window = engine._model.encode
    encode = window._encode

    def recorded(features: Any) -> Any:
        frames.append(features.shape[-1])
        return encode(features)

    window._encode = recorded
    return engine, frames


def test_short_speech_is_read_in_the_short_window_with_the_same_words_as_the_full_one(piper: PiperTTS) -> None:
    short, short_frames = whisper(10)
    full, full_frames = whisper(30)
    options = TranscriptionOptions(word_timestamps=True)
    heard_short, heard_full = [], []
    for text in SENTENCES:
        audio = speech(piper, text)
        assert audio.size / 16_000 < 8
        a, b = short.transcribe(audio, options), full.transcribe(audio, options)
        heard_short.append(a.text)
        heard_full.append(b.text)
        assert [w.word for w in a.words] == a.text.split()
        # Word timestamps from the short window's alignment land where the full window's do.
        starts = [w.start for w in a.words]
        if normalize(a.text) == normalize(b.text):
            assert np.allclose(starts, [w.start for w in b.words], atol=0.1)
    assert set(short_frames) == {1000}
    assert set(full_frames) == {3000}
    assert word_error_rate(SENTENCES, heard_short) <= WER_BOUND, heard_short
    assert word_error_rate(heard_full, heard_short) <= 0.05, (heard_full, heard_short)


def test_speech_too_long_for_the_short_window_gets_the_full_one(piper: PiperTTS) -> None:
    engine, frames = whisper(10)
    audio = speech(piper, " ".join(SENTENCES[1:]))
    assert audio.size / 16_000 > 8
    transcript = engine.transcribe(audio, TranscriptionOptions())
    assert set(frames) == {3000}
    assert word_error_rate([" ".join(SENTENCES[1:])], [transcript.text]) <= WER_BOUND, transcript.text


def test_a_short_read_that_repeats_itself_is_read_again_in_the_full_window(
    piper: PiperTTS, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, frames = whisper(10)
    decode = engine._model.transcribe

    def repeating_in_the_short_window(*args: Any, **kwargs: Any) -> tuple[Iterator[Any], Any]:
        # The real decoder runs; only the short window's segments report a repetitive text, as a looping one would.
        segments, info = decode(*args, **kwargs)
        looping = not frames or frames[-1] == 1000
        return (dataclasses.replace(s, compression_ratio=3.0) if looping else s for s in segments), info

    monkeypatch.setattr(engine._model, "transcribe", repeating_in_the_short_window)
    transcript = engine.transcribe(speech(piper, SENTENCES[0]), TranscriptionOptions())
    assert frames == [1000, 3000]
    assert normalize(transcript.text) == normalize(SENTENCES[0])


def test_a_loop_of_words_is_told_apart_from_words_said_twice() -> None:
    # Heard in the benchmark: tiny.en in a 10 s window read one sentence twice.
    assert _loops("the chair question the weekly report the chair question the weekly report")
    assert _loops("so we will vote on it, we will vote on it")
    assert not _loops("it is very very good, very very good")  # three words said twice: speech, not a loop
    assert not _loops("The council met this morning to discuss the budget.")
    assert not _loops("")
