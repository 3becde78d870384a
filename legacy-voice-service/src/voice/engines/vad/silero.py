"""Silero VAD (v6) on onnxruntime, through faster-whisper's bundled ONNX copy: no torch needed.

The `silero-vad` wheel also ships the ONNX model, but it requires torch, which the default install must not pull.
"""

from typing import Any

import numpy as np

from voice.audio import Samples
from voice.engines.base import SpeechSpan, VoiceActivityDetector
from voice.settings import VadSettings


class SileroVAD(VoiceActivityDetector):
    name = "silero"
    licence = "Silero VAD MIT (model bundled by faster-whisper, MIT)"

    def __init__(self, settings: VadSettings) -> None:
        self._settings = settings
        self._options: Any = None

    @property
    def model_id(self) -> str:
        return "silero-vad-v6"

    def load(self) -> None:
        from faster_whisper.vad import VadOptions, get_vad_model

        get_vad_model()  # builds the onnxruntime session once (cached by faster-whisper)
        self._options = VadOptions(
            threshold=self._settings.threshold,
            min_silence_duration_ms=self._settings.min_silence_ms,
            min_speech_duration_ms=self._settings.min_speech_ms,
            speech_pad_ms=self._settings.speech_pad_ms,
        )

    def warm_up(self) -> None:
        self.detect(np.zeros(self.sample_rate, dtype=np.float32))

    def detect(self, audio: Samples) -> list[SpeechSpan]:
        from faster_whisper.vad import get_speech_timestamps

        assert self._options is not None, "load() first"
        spans = get_speech_timestamps(audio, self._options, sampling_rate=self.sample_rate)
        return [
            SpeechSpan(start=round(span["start"] / self.sample_rate, 3), end=round(span["end"] / self.sample_rate, 3))
            for span in spans
        ]
