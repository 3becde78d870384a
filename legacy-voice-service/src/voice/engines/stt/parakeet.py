"""NVIDIA NeMo Parakeet (extra `nemo`): weights are hub-only, so they come from the user's model cache."""

from pathlib import Path
from typing import Any

import numpy as np

from voice.audio import Samples
from voice.engines.base import SpeechToText, Transcript, TranscriptionOptions, TranscriptSegment, Word
from voice.errors import EngineUnavailable
from voice.settings import ModelSettings, SttSettings

INSTALL_HINT = (
    "pip install 'hybrid-council-voice[nemo]' torch==2.13.0 (torch pinned to the CPU build on these machines)"
)


class ParakeetSTT(SpeechToText):
    name = "parakeet"
    licence = "nemo-toolkit Apache-2.0; Parakeet TDT 0.6B v2 weights CC-BY-4.0"

    def __init__(self, settings: SttSettings, models: ModelSettings) -> None:
        self._settings = settings
        self._cache = models.resolved_cache_dir()
        self._model: Any = None

    @property
    def model_id(self) -> str:
        return self._settings.parakeet_model

    def weights_folder(self) -> Path:
        return self._cache / self._settings.parakeet_model

    def locate_weights(self) -> Path | str:
        """The .nemo file, or a message that says where it was looked for and how to provide it."""
        explicit = self._settings.parakeet_model_path
        if explicit is not None:
            return explicit if explicit.is_file() else f"VOICE_STT__PARAKEET_MODEL_PATH={explicit} is not a file."
        folder = self.weights_folder()
        found = sorted(folder.glob("*.nemo")) if folder.is_dir() else []
        if found:
            return found[0]
        return (
            f"No weights for {self.model_id}: expected a .nemo file in {folder}. Model hubs are not contacted at run "
            f"time; on a machine with hub access run `huggingface-cli download {self.model_id} --local-dir {folder}` "
            "and copy that folder here, or set VOICE_STT__PARAKEET_MODEL_PATH to a .nemo file."
        )

    def load(self) -> None:
        problems: list[str] = []
        weights = self.locate_weights()
        if isinstance(weights, str):
            problems.append(weights)
        try:
            from nemo.collections.asr.models import ASRModel
        except Exception as error:  # ImportError, or a broken torch install underneath it
            problems.append(
                f"NeMo cannot be imported ({type(error).__name__}: {error}); install it with {INSTALL_HINT}."
            )
        if problems:
            raise EngineUnavailable(" ".join(problems))
        assert isinstance(weights, Path)
        self._model = ASRModel.restore_from(str(weights), map_location="cpu")
        self._model.eval()

    def warm_up(self) -> None:
        self.transcribe(np.zeros(self.sample_rate, dtype=np.float32), TranscriptionOptions())

    def transcribe(self, audio: Samples, options: TranscriptionOptions) -> Transcript:
        assert self._model is not None, "load() first"
        hypotheses = self._model.transcribe([audio], batch_size=1, timestamps=options.word_timestamps, verbose=False)
        hypothesis = hypotheses[0]
        text = str(getattr(hypothesis, "text", hypothesis)).strip()
        stamps: dict[str, list[dict[str, Any]]] = getattr(hypothesis, "timestamp", None) or {}
        words = tuple(
            Word(word=str(item.get("word", "")), start=float(item.get("start", 0.0)), end=float(item.get("end", 0.0)))
            for item in stamps.get("word", [])
        )
        duration = round(audio.size / self.sample_rate, 3)
        segments = (TranscriptSegment(id=0, start=0.0, end=duration, text=text, words=words),) if text else ()
        return Transcript(text=text, language="en", duration=duration, segments=segments)
