"""Silero VAD (v6) on onnxruntime, through faster-whisper's bundled ONNX copy: no torch needed.

The `silero-vad` wheel also ships the ONNX model, but it requires torch, which the default install must not pull.
"""

from typing import Any, ClassVar

import numpy as np

from voice.audio import Samples
from voice.engines.base import SpeechProbabilities, SpeechSpan, VoiceActivityDetector
from voice.settings import VadSettings

_CONTEXT = 64  # samples of the previous frame the model sees before each 512-sample frame (as faster-whisper feeds it)


class SileroStream(SpeechProbabilities):
    """Silero's recurrent state carried from push to push, so a live stream is scored frame by frame exactly as
    one pass over the whole audio would score it, at the cost of the new frames only."""

    frame_samples: ClassVar[int] = 512  # 32 ms at 16 kHz

    def __init__(self, session: Any) -> None:
        self._session = session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, audio: Samples) -> Samples:
        pending = np.concatenate([self._pending, audio])
        whole = pending.size // self.frame_samples * self.frame_samples
        self._pending = pending[whole:]
        if whole == 0:
            return np.zeros(0, dtype=np.float32)
        frames = pending[:whole].reshape(-1, self.frame_samples)
        contexts = np.concatenate([self._context[None, :], frames[:-1, -_CONTEXT:]])
        self._context = frames[-1, -_CONTEXT:].copy()
        batch = np.concatenate([contexts, frames], axis=1).astype(np.float32)
        output, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        probabilities: Samples = np.asarray(output, dtype=np.float32).reshape(-1)
        return probabilities


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
        self.stream().push(np.zeros(self.sample_rate // 10, dtype=np.float32))

    def stream(self) -> SileroStream:
        from faster_whisper.vad import get_vad_model

        return SileroStream(get_vad_model().session)

    def detect(self, audio: Samples) -> list[SpeechSpan]:
        from faster_whisper.vad import get_speech_timestamps

        assert self._options is not None, "load() first"
        spans = get_speech_timestamps(audio, self._options, sampling_rate=self.sample_rate)
        return [
            SpeechSpan(start=round(span["start"] / self.sample_rate, 3), end=round(span["end"] / self.sample_rate, 3))
            for span in spans
        ]
