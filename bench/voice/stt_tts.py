"""Voice engine benchmarks on this machine: Whisper tiny.en RTF and WER, Piper time-to-first-audio and RTF,
Whisper's 10 s encoder window beside the full 30 s one on the same audio (time per transcript and WER), and a
transcript with word timestamps beside one without (the realtime socket's `word_timestamps` option).

Runs the engines in process (no HTTP) on sentences it generates, with the service's default settings (CPU int8,
2 threads, VAD on, Piper noise off for repeatable audio). Reports medians.
Usage: legacy-voice-service/.venv/bin/python bench/voice/stt_tts.py [--sentences N] [--out FILE]; QUICK=1: 5 sentences
"""

import argparse
import importlib.util
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from voice.audio import StreamEncoder, decode
from voice.engines.base import TranscriptionOptions
from voice.engines.stt.whisper import WhisperSTT
from voice.engines.tts.piper import PiperTTS
from voice.settings import SttSettings, TtsSettings, VadSettings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from _stats import summary, write_result  # noqa: E402

SUBJECTS = ["The council", "Our analyst", "The treasury", "The critic", "A new member", "The chair"]
VERBS = ["approved", "questioned", "rejected", "discussed", "postponed", "reviewed"]
OBJECTS = ["the budget", "the proposal", "the weekly report", "the trading plan", "the hiring request"]
TAILS = ["after a long debate.", "before the meeting ended.", "on Monday morning.", "without any changes.", "."]


def sentences(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)  # noqa: S311  # a reproducible choice of words, not security
    made = []
    for _ in range(count):
        tail = rng.choice(TAILS)
        made.append(
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{'' if tail == '.' else ' '}{tail}"
        )
    return made


def load_word_error_rate() -> Callable[[list[str], list[str]], float]:
    """The tests' WER with Whisper-style normalization, so tests and benchmark measure the same thing."""
    spec = importlib.util.spec_from_file_location("wer", ROOT / "legacy-voice-service" / "tests" / "api" / "wer.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function: Callable[[list[str], list[str]], float] = module.word_error_rate
    return function


def main() -> None:
    word_error_rate = load_word_error_rate()
    parser = argparse.ArgumentParser()
    parser.add_argument("--sentences", type=int, default=5 if os.environ.get("QUICK") == "1" else 20)
    args = parser.parse_args()

    tts = PiperTTS(TtsSettings(noise_scale=0, noise_w_scale=0))
    stt = WhisperSTT(SttSettings(), VadSettings())
    short_window = WhisperSTT(SttSettings(whisper_window_s=10), VadSettings())  # opt-in; the default reads 30 s
    started = time.perf_counter()
    tts.load()
    tts.warm_up()
    tts_load = time.perf_counter() - started
    started = time.perf_counter()
    stt.load()
    stt.warm_up()
    stt_load = time.perf_counter() - started
    short_window.load()
    short_window.warm_up()

    texts = sentences(args.sentences)
    first_audio, tts_rtf, stt_rtf, hypotheses = [], [], [], []
    window_ms: dict[str, list[float]] = {"10": [], "30": []}
    window_heard: dict[str, list[str]] = {"10": [], "30": []}
    words_ms: dict[bool, list[float]] = {True: [], False: []}
    for text in texts:
        encoder = StreamEncoder("wav", tts.sample_rate)
        data = encoder.start()
        started = time.perf_counter()
        chunks = []
        for index, chunk in enumerate(tts.synthesize(text, tts.voice_id, 1.0)):
            if index == 0:
                first_audio.append(time.perf_counter() - started)
            chunks.append(chunk)
            data += encoder.encode(chunk)
        elapsed = time.perf_counter() - started
        data += encoder.finish()
        audio_seconds = sum(chunk.size for chunk in chunks) / tts.sample_rate
        tts_rtf.append(elapsed / audio_seconds)

        audio = decode(data, stt.sample_rate, max_seconds=600)
        started = time.perf_counter()
        transcript = stt.transcribe(audio, TranscriptionOptions())
        stt_rtf.append((time.perf_counter() - started) / (audio.size / stt.sample_rate))
        hypotheses.append(transcript.text)
        for window, engine in (("30", stt), ("10", short_window)):  # alternating, the same audio for both
            started = time.perf_counter()
            heard = engine.transcribe(audio, TranscriptionOptions())
            window_ms[window].append(1000 * (time.perf_counter() - started))
            window_heard[window].append(heard.text)
        for word_timestamps in (True, False):  # alternating, the same audio for both
            started = time.perf_counter()
            stt.transcribe(audio, TranscriptionOptions(word_timestamps=word_timestamps))
            words_ms[word_timestamps].append(1000 * (time.perf_counter() - started))

    # A longer passage: time to first audio for a multi-sentence answer versus its whole synthesis.
    passage = " ".join(texts[:8])
    started = time.perf_counter()
    pieces = iter(tts.synthesize(passage, tts.voice_id, 1.0))
    next(pieces)
    passage_first = time.perf_counter() - started
    for _ in pieces:
        pass
    passage_total = time.perf_counter() - started

    result = {
        "sentences": len(texts),
        "stt": {
            "engine": stt.model_id,
            "load_and_warm_s": round(stt_load, 3),
            "rtf_median": round(statistics.median(stt_rtf), 4),
            "rtf": summary(stt_rtf, "processing s / audio s", 4),
            "wer": round(word_error_rate(texts, hypotheses), 4),
        },
        "tts": {
            "engine": f"piper/{tts.voice_id}",
            "load_and_warm_s": round(tts_load, 3),
            "first_audio_ms_median": round(1000 * statistics.median(first_audio), 1),
            "first_audio_ms": summary([1000 * s for s in first_audio], "ms", 1),
            "rtf_median": round(statistics.median(tts_rtf), 4),
            "rtf": summary(tts_rtf, "synthesis s / audio s", 4),
            "passage_first_audio_ms": round(1000 * passage_first, 1),
            "passage_total_ms": round(1000 * passage_total, 1),
        },
        "stt_window": {
            "what": "the same utterances (1.5-3.5 s) transcribed with the encoder reading 10 s (VOICE_STT__WHISPER_WINDOW_S"
            "=10, repeated in 30 s when the read loops) vs the padded 30 s (the default)",
            **{
                f"window_{window}_s": {
                    "transcript_ms": summary(window_ms[window], "ms", 1),
                    "wer": round(word_error_rate(texts, window_heard[window]), 4),
                }
                for window in ("10", "30")
            },
            "ratio_10_to_30_median": round(statistics.median(window_ms["10"]) / statistics.median(window_ms["30"]), 3),
        },
        "word_timestamps": {
            "what": "the same utterances transcribed with word timestamps (the realtime socket's default) and without "
            "(input_audio_transcription.word_timestamps false, as the main service asks)",
            "with_ms": summary(words_ms[True], "ms", 1),
            "without_ms": summary(words_ms[False], "ms", 1),
            "saved_ms_median": round(statistics.median(words_ms[True]) - statistics.median(words_ms[False]), 1),
            "ratio_without_to_with_median": round(
                statistics.median(words_ms[False]) / statistics.median(words_ms[True]), 3
            ),
        },
        "examples": [{"said": t, "heard": h} for t, h in list(zip(texts, hypotheses, strict=True))[:3]],
    }
    write_result("voice", result)
    assert np.isfinite(result["stt"]["rtf_median"])


if __name__ == "__main__":
    main()
