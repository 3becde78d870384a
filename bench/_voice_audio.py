"""Spoken test utterances for bench/voice_loop.py: 16 kHz mono s16le speech, silence trimmed, in three voices.

Piper is the project's own TTS (the voice service's `POST /v1/audio/speech`, 24 kHz `pcm`); espeak-ng is a second,
unrelated one (Debian package; `scripts/install-espeak` installs it when missing), in two voices: American English
at its usual rate and British English, slower. All are resampled to the socket's 16 kHz and cut to their speech, so
that the first and last samples of an utterance are its speech onset and end.
"""

import io
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RATE = 16_000  # the socket's input rate
PIPER_VOICE = "en_US-joe-medium"
# Sentences said with a pause after their head (the pause set: one turn each, however long the pause).
PAUSE_PAIRS = [
    ("I want to know", "the weather in Paris tomorrow"), ("Can you tell me", "how tall the Eiffel Tower is"),
    ("What I would really like is", "a short summary of the French revolution"),
    ("Please explain why", "the sky looks blue during the day"),
    ("My question is about", "the best way to learn a new language"),
    ("Could you compare", "the fast path and the council path"),
]  # fmt: skip
ESPEAK_VOICES = {"espeak-ng": ("en-us", 165), "espeak-ng-gb-140": ("en-gb", 140)}  # name: (voice, words per minute)


@dataclass(frozen=True)
class Utterance:
    """Speech only (no leading or trailing silence) at 16 kHz s16le; `pause_ms` > 0: a silence mid-sentence."""

    label: str
    synthesizer: str
    text: str
    pcm: bytes
    pause_ms: int = 0

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    """s16le mono PCM in a WAV container, as an upload would carry it."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm)
    return out.getvalue()


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """To 16 kHz: a windowed-sinc low-pass below the new Nyquist frequency, then linear interpolation."""
    x = samples.astype(np.float64)
    if rate > RATE:
        cutoff = 0.45 * RATE / rate  # cycles per input sample, a little under the new Nyquist
        taps = np.arange(-32, 33)
        kernel = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.hamming(len(taps))
        x = np.convolve(x, kernel / kernel.sum(), mode="same")
    positions = np.arange(0, len(x) * RATE / rate) * rate / RATE
    out = np.interp(positions, np.arange(len(x)), x)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def trim(samples: np.ndarray, floor_db: float = -40.0) -> np.ndarray:
    """Cut leading and trailing silence: 10 ms windows quieter than `floor_db` below the loudest window."""
    window = RATE // 100
    loud = np.flatnonzero(~quiet_windows(samples, floor_db))
    if len(loud) == 0:
        raise ValueError("no speech in the synthesized audio")
    return samples[loud[0] * window : (loud[-1] + 1) * window]


def quiet_windows(samples: np.ndarray, floor_db: float = -40.0) -> np.ndarray:
    """Per 10 ms window: True where it is quieter than `floor_db` below the loudest window."""
    window = RATE // 100
    usable = len(samples) - len(samples) % window
    rms = np.sqrt(np.mean(samples[:usable].astype(np.float64).reshape(-1, window) ** 2, axis=1))
    quiet: np.ndarray = rms < rms.max() * 10 ** (floor_db / 20)
    return quiet


def stretch_pause(samples: np.ndarray, pause_ms: int, near: float, shortest_ms: int = 80) -> np.ndarray | None:
    """The longest silence inside the speech within a quarter of its length of `near` (a fraction of it: where the
    comma should be) replaced by `pause_ms` of silence; None if there is none of at least `shortest_ms`."""
    window = RATE // 100
    quiet = quiet_windows(samples)
    best, start = (0, 0), None
    for index, is_quiet in enumerate(quiet):
        if is_quiet and start is None:
            start = index
        elif not is_quiet and start is not None:
            close = abs((start + index) / 2 / len(quiet) - near) <= 0.25
            if start > 0 and close and index - start > best[1] - best[0]:  # inside the speech, not at its edges
                best = (start, index)
            start = None
    if (best[1] - best[0]) * 10 < shortest_ms:
        return None
    silence = np.zeros(RATE * pause_ms // 1000, dtype=np.int16)
    return np.concatenate([samples[: best[0] * window], silence, samples[best[1] * window :]])


def piper(voice_url: str, text: str) -> np.ndarray:
    response = httpx.post(
        f"{voice_url}/v1/audio/speech",
        json={"input": text, "voice": PIPER_VOICE, "response_format": "pcm"},
        timeout=120,
    )
    response.raise_for_status()
    return trim(resample(np.frombuffer(response.content, dtype="<i2"), 24_000))


def espeak_available() -> bool:
    """espeak-ng is on PATH, after installing it with scripts/install-espeak if it was not."""
    if shutil.which("espeak-ng"):
        return True
    subprocess.run([str(ROOT / "scripts" / "install-espeak")], check=False)
    return shutil.which("espeak-ng") is not None


def espeak_version() -> str | None:
    if not shutil.which("espeak-ng"):
        return None
    return subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip() or None


def espeak(text: str, voice: str, words_per_minute: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "speech.wav"
        command = ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(path), text]
        subprocess.run(command, check=True)
        with wave.open(io.BytesIO(path.read_bytes())) as wav:
            rate = wav.getframerate()  # 22,050 Hz
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return trim(resample(samples, rate))


class Speaker:
    """Makes utterances in any of the voices; `synthesizers` lists those available on this machine."""

    def __init__(self, voice_url: str, use_espeak: bool) -> None:
        self.voice_url = voice_url
        self.synthesizers = ["piper", *ESPEAK_VOICES] if use_espeak else ["piper"]

    def speech(self, synthesizer: str, text: str) -> np.ndarray:
        return piper(self.voice_url, text) if synthesizer == "piper" else espeak(text, *ESPEAK_VOICES[synthesizer])

    def say(self, synthesizer: str, text: str, label: str = "") -> Utterance:
        return Utterance(label or text, synthesizer, text, self.speech(synthesizer, text).tobytes())

    def with_pause(self, synthesizer: str, first: str, rest: str, pause_ms: int) -> Utterance:
        """`first`, `pause_ms` of silence, `rest`, as a speaker who hesitates mid-sentence: the sentence is
        synthesized whole with a comma there (so `first` keeps the intonation of an unfinished sentence) and the
        comma's pause is stretched. Should the synthesizer leave no pause at the comma, the two parts are
        synthesized alone and joined (then `first` ends like a finished sentence: a harder case), and the
        label says so."""
        text = f"{first}, {rest}"
        whole = stretch_pause(self.speech(synthesizer, text), pause_ms, near=len(first) / len(text))
        label = f"{first} [{pause_ms} ms] {rest}"
        if whole is None:
            silence = np.zeros(RATE * pause_ms // 1000, dtype=np.int16)
            whole = np.concatenate([self.speech(synthesizer, first), silence, self.speech(synthesizer, rest)])
            label += " (parts joined)"
        return Utterance(label, synthesizer, text, whole.tobytes(), pause_ms)
