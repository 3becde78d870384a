"""What the transcript at the pause costs and how well it reads, for each way of making it cheaper: Whisper tiny.en
reading the whole utterance with its full 30 s encoder window (today), with shorter windows (20, 15, 10 s:
`VOICE_STT__WHISPER_WINDOW_S`), and without timestamp tokens; and how long Smart Turn takes beside it.

In process, no sockets, on turn_signals.py's complete utterances in its three voices, each followed by the trailing
silence the session keeps (`VOICE_TURN__TRANSCRIBE_SILENCE_MS`). The options are read one after another for each
utterance (interleaved), so the machine's load falls on all of them alike. Word error rate against the written
sentence; "same as full" counts reads whose words equal the full window's exactly (after normalization).
Usage: legacy-voice-service/.venv/bin/python bench/voice/pause_reads.py; QUICK=1: 4 utterances a voice.
"""

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "legacy-voice-service" / "tests" / "api"))
from _stats import summary, write_result
from _voice_audio import RATE, espeak_available, resample, trim
from turn_signals import COMPLETE, espeak
from voice.engines.stt.whisper import FRAMES_PER_SECOND, WhisperSTT
from voice.engines.tts.piper import PiperTTS
from voice.engines.turn.smart_turn import SmartTurn
from voice.settings import Settings
from wer import normalize, word_error_rate

TRAILING_SILENCE_S = 0.128
WINDOWS_S = (30, 20, 15, 10)


def main() -> None:
    settings = Settings(_env_file=None, tts={"noise_scale": 0, "noise_w_scale": 0})
    turn, stt, tts = SmartTurn(settings.turn), WhisperSTT(settings.stt, settings.vad), PiperTTS(settings.tts)
    for engine in (turn, stt, tts):
        engine.load()
    stt.warm_up()

    def piper(text: str) -> np.ndarray:
        audio = np.concatenate(list(tts.synthesize(text, "en_US-joe-medium", 1.0)))
        return trim(resample(np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16), tts.sample_rate))

    voices: dict[str, Callable[[str], np.ndarray]] = {"piper": piper}
    if espeak_available():
        voices |= {
            "espeak-ng": lambda t: espeak(t, "en-us", 165),
            "espeak-ng-gb-140": lambda t: espeak(t, "en-gb", 140),
        }

    def read(audio: np.ndarray, *, window_s: int, timestamps: bool) -> tuple[float, str]:
        """One read as the session makes it (no word timings), timed; window_s < 30 cuts the encoder's input."""
        assert stt._window is not None
        started = time.perf_counter()
        with stt._window.limited(window_s * FRAMES_PER_SECOND):
            segments, _ = stt._model.transcribe(
                audio, language="en", beam_size=settings.stt.beam_size, vad_filter=settings.stt.vad_filter,
                without_timestamps=not timestamps,
            )  # fmt: skip
            text = " ".join(segment.text.strip() for segment in segments)
        return time.perf_counter() - started, text

    options: dict[str, dict[str, Any]] = {
        f"window {window} s": {"window_s": window, "timestamps": True} for window in WINDOWS_S
    } | {"window 30 s, no timestamps": {"window_s": 30, "timestamps": False}}
    quick = bool(os.environ.get("QUICK"))
    texts = COMPLETE[-4:] if quick else COMPLETE
    silence = np.zeros(round(TRAILING_SILENCE_S * RATE), dtype=np.int16)
    rows: list[dict[str, Any]] = []
    for voice, say in voices.items():
        for text in texts:
            audio = np.concatenate([say(text), silence]).astype(np.float32) / 32768
            row: dict[str, Any] = {"voice": voice, "text": text, "seconds": round(audio.size / RATE, 2), "reads": {}}
            for name, option in options.items():
                elapsed, heard = read(audio, **option)
                row["reads"][name] = {"ms": round(elapsed * 1000, 1), "text": heard}
            started = time.perf_counter()
            turn.completion(audio)
            row["smart_turn_ms"] = round((time.perf_counter() - started) * 1000, 1)
            print(row, flush=True)
            rows.append(row)

    full = "window 30 s"
    by_option = {
        name: {
            "ms": summary([row["reads"][name]["ms"] for row in rows], "ms", 1),
            "wer": round(word_error_rate([r["text"] for r in rows], [r["reads"][name]["text"] for r in rows]), 4),
            "same_as_full": sum(
                normalize(row["reads"][name]["text"]) == normalize(row["reads"][full]["text"]) for row in rows
            ),
            "of": len(rows),
        }
        for name in options
    }
    write_result(
        "pause_reads",
        {
            "trailing_silence_s": TRAILING_SILENCE_S,
            "summary": by_option,
            "smart_turn_ms": summary([row["smart_turn_ms"] for row in rows], "ms", 1),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
