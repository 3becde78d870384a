"""Piper with the bundled joe voice: clause chunking for streaming, and determinism with noise off."""

import numpy as np

from voice.engines.tts.piper import PiperTTS, split_for_streaming
from voice.settings import TtsSettings


def test_text_is_cut_at_sentences_and_at_clauses_of_long_sentences() -> None:
    text = "Hello there. This sentence is long enough, so that it is cut at a comma, and once more; fine! Ok"
    assert split_for_streaming(text) == [
        "Hello there.",
        "This sentence is long enough, so that it is cut at a comma,",
        "and once more; fine!",
        "Ok",
    ]


def test_punctuation_alone_makes_no_chunk() -> None:
    assert split_for_streaming("... !? \n\n") == []


def test_noise_off_makes_synthesis_deterministic_one_chunk_per_sentence() -> None:
    engine = PiperTTS(TtsSettings(noise_scale=0, noise_w_scale=0))
    engine.load()
    text = "The council meets at noon. The budget is on the agenda."
    first = list(engine.synthesize(text, engine.voice_id, 1.0))
    second = list(engine.synthesize(text, engine.voice_id, 1.0))
    assert len(first) == 2
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    faster = list(engine.synthesize(text, engine.voice_id, 2.0))
    assert sum(chunk.size for chunk in faster) < 0.7 * sum(chunk.size for chunk in first)
