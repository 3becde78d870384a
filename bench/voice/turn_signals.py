"""What each end-of-turn signal says at a pause, on the bench's utterances: Smart Turn's probability and Whisper's
transcript of the speech so far, for heads of sentences cut mid-way (the pause set: the turn must stay open) and
complete questions and requests (the turn should end), and what the voice service's rule (`voice.realtime.
end_of_turn`) decides on each with its rules on the words alone. The data the rule's numbers come from
(`VOICE_TURN__TEXT_AUDIO_FLOOR`, `words.MIN_QUESTION_WORDS`; `bench/turn_words.py` reads these rows for the model's).

In process, no sockets: three voices (Piper joe-medium, espeak-ng en-us at 165 wpm, en-gb at 140 wpm), each
utterance followed by the short silence (250 ms) as the session hears it at its first pause.
Usage: legacy-voice-service/.venv/bin/python bench/voice/turn_signals.py; QUICK=1: 3 sentences and 4 utterances a voice.
"""

import io
import os
import subprocess
import sys
import tempfile
import wave
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _stats import write_result
from _voice_audio import PAUSE_PAIRS, RATE, espeak_available, resample, stretch_pause, trim
from voice.engines.base import TranscriptionOptions
from voice.engines.stt.whisper import WhisperSTT
from voice.engines.tts.piper import PiperTTS
from voice.engines.turn.smart_turn import SmartTurn
from voice.realtime.end_of_turn import Heard, TurnRule, decide
from voice.settings import Settings

PAIRS = [
    *PAUSE_PAIRS,  # bench/voice_loop.py's pause set, and four more heads
    ("I was wondering if", "you could help me plan a trip"), ("Tell me", "a joke about cats"),
    ("So the thing is", "my laptop keeps crashing"), ("How do I", "make bread at home"),
]  # fmt: skip
COMPLETE = [f"{head} {tail}." for head, tail in PAIRS] + [
    "What is the capital of France?", "How many legs does a spider have?", "What colour is a ripe banana?",
    "Who wrote the play Romeo and Juliet?", "What is the boiling point of water?", "How far away is the Moon?",
    "What is the largest ocean on Earth?", "Which planet is closest to the Sun?", "Name three colours of the rainbow.",
    "Why is the sky blue?", "Should a small town build a new library or fix its roads first?",
    "Is it better to rent or to buy a home in a big city?", "Tell me a joke.", "Thanks, that's all.",
    "Give me a recipe for pancakes.", "What time is it in Tokyo?",
]  # fmt: skip
SHORT_SILENCE_S = 0.25
SPEECH_PAD_S = 0.03


def espeak(text: str, voice: str, wpm: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(path), text], check=True)
        with wave.open(io.BytesIO(path.read_bytes())) as wav:
            rate, samples = wav.getframerate(), np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return trim(resample(samples, rate))


def head_of(whole: np.ndarray, head: str, text: str) -> np.ndarray | None:
    """The speech before the comma's pause of `head, tail` said whole (the intonation of an unfinished sentence)."""
    stretched = stretch_pause(whole, 700, near=len(head) / len(text))
    if stretched is None:
        return None
    run = RATE // 10  # 100 ms of digital silence: the inserted pause
    silent = np.convolve((stretched == 0).astype(int), np.ones(run, dtype=int), mode="valid") == run
    starts = np.flatnonzero(silent)
    return stretched[: starts[0]] if len(starts) else None


def main() -> None:
    settings = Settings(_env_file=None, tts={"noise_scale": 0, "noise_w_scale": 0})
    turn, stt, tts = SmartTurn(settings.turn), WhisperSTT(settings.stt, settings.vad), PiperTTS(settings.tts)
    for engine in (turn, stt, tts):
        engine.load()

    def piper(text: str) -> np.ndarray:
        audio = np.concatenate(list(tts.synthesize(text, "en_US-joe-medium", 1.0)))
        return trim(resample(np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16), tts.sample_rate))

    voices = {"piper": piper}
    if espeak_available():
        voices |= {
            "espeak-ng": lambda t: espeak(t, "en-us", 165),
            "espeak-ng-gb-140": lambda t: espeak(t, "en-gb", 140),
        }
    rule = TurnRule.of(settings.turn)  # the rules on the words alone: bench/turn_words.py adds the model's reading
    silence = np.zeros(round(SHORT_SILENCE_S * RATE), dtype=np.int16)

    def at_pause(voice: str, kind: str, text: str, speech: np.ndarray) -> dict[str, Any]:
        heard_audio = np.concatenate([speech, silence]).astype(np.float32) / 32768
        probability = float(turn.completion(heard_audio))
        padded = np.concatenate([speech, silence[: round(SPEECH_PAD_S * RATE)]]).astype(np.float32) / 32768
        transcript = stt.transcribe(padded, TranscriptionOptions(word_timestamps=False))
        decided = decide(rule, probability, Heard.of(transcript.text, transcript.language))
        row = {"voice": voice, "kind": kind, "text": text, "probability": round(probability, 3),
               "transcript": transcript.text, "decided_by": decided.value if decided else None}  # fmt: skip
        print(row, flush=True)
        return row

    quick = bool(os.environ.get("QUICK"))
    pairs, complete = (PAIRS[:3], COMPLETE[-4:]) if quick else (PAIRS, COMPLETE)
    rows = []
    for voice, say in voices.items():
        for head, tail in pairs:
            whole = f"{head}, {tail}"
            speech = head_of(say(whole), head, whole)
            rows.append(at_pause(voice, "head", head, speech if speech is not None else say(head)))
        rows += [at_pause(voice, "complete", text, say(text)) for text in complete]

    def tally(kind: str) -> dict[str, Any]:
        chosen = [row for row in rows if row["kind"] == kind]
        return {"n": len(chosen), "ended_at_the_pause_by": dict(Counter(str(row["decided_by"]) for row in chosen))}

    result = {
        "rule": {
            "threshold": rule.threshold,
            "text_audio_floor": rule.text_audio_floor,
            "hold_unfinished": rule.hold_unfinished,
        },
        "heads_must_stay_open": tally("head"),
        "complete_should_end": tally("complete"),
        "by_voice": {voice: {kind: tally_of(rows, voice, kind) for kind in ("head", "complete")} for voice in voices},
        "rows": rows,
    }
    write_result("turn_signals", result)


def tally_of(rows: list[dict[str, Any]], voice: str, kind: str) -> dict[str, int]:
    return dict(Counter(str(row["decided_by"]) for row in rows if row["voice"] == voice and row["kind"] == kind))


if __name__ == "__main__":
    main()
