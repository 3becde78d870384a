"""Smart Turn v3.2 (Daily, BSD-2-Clause) on onnxruntime: from the last 8 s of an utterance, the probability that the
speaker is done. The ONNX file ships inside the `pipecat-ai` wheel, installed without its dependencies."""

from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from voice.audio import Samples
from voice.engines.base import TurnDetector
from voice.errors import EngineUnavailable
from voice.settings import TurnSettings

BUNDLED_MODEL = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
INSTALL_HINT = "pip install --no-deps --requirement requirements-nodeps.txt (pipecat-ai, which make setup installs)"
WINDOW_S = 8  # the model reads exactly the last 8 s (zero padded in front when shorter)
NORM_EPS = 1e-7  # as transformers' WhisperFeatureExtractor (do_normalize=True), which the model was trained with


def bundled_model_path() -> Path | None:
    """The ONNX file inside the installed pipecat-ai distribution, found without importing pipecat (its package
    imports dependencies this service does not install)."""
    try:
        distribution = metadata.distribution("pipecat-ai")
    except metadata.PackageNotFoundError:
        return None
    return Path(str(distribution.locate_file(BUNDLED_MODEL)))


class SmartTurn(TurnDetector):
    name = "smart-turn"
    licence = "pipecat-ai BSD-2-Clause; Smart Turn v3.2 weights BSD-2-Clause (Daily)"

    def __init__(self, settings: TurnSettings) -> None:
        self._settings = settings
        self._session: Any = None
        self._features: Any = None
        self._input: str = ""

    @property
    def model_id(self) -> str:
        path = self._settings.model_path
        return "smart-turn-v3.2" if path is None else f"smart-turn-{path.stem}"

    def load(self) -> None:
        import onnxruntime
        from faster_whisper.feature_extractor import FeatureExtractor

        path = self._settings.model_path or bundled_model_path()
        if path is None or not path.is_file():
            if self._settings.model_path is not None:
                where = f"VOICE_TURN__MODEL_PATH={path} is not a file"
            elif path is None:
                where = "the pipecat-ai package (which ships it) is not installed"
            else:
                where = f"{path} is missing from the installed pipecat-ai"
            raise EngineUnavailable(
                f"No Smart Turn v3.2 model: {where}. Install it with `{INSTALL_HINT}` in the voice service's "
                "folder, or set VOICE_TURN__MODEL_PATH to a smart-turn-v3 .onnx file; until then turns end on "
                "silence alone (VOICE_TURN__ENGINE=silence silences this warning)."
            )
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = self._settings.cpu_threads
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        (model_input,) = self._session.get_inputs()
        self._input = model_input.name
        # Whisper's log-mel front end (80 bins, 10 ms hop, 8 s window -> 800 frames), numpy only.
        self._features = FeatureExtractor(feature_size=80, chunk_length=WINDOW_S)

    def warm_up(self) -> None:
        self.completion(np.zeros(self.sample_rate, dtype=np.float32))

    def features(self, audio: Samples) -> Samples:
        """The model's input for one utterance: (80, 800) log-mel of its last 8 s, waveform-normalised first."""
        assert self._features is not None, "load() first"
        window = WINDOW_S * self.sample_rate
        audio = audio[-window:]
        audio = np.pad(audio, (window - audio.size, 0)).astype(np.float32)
        audio = (audio - audio.mean()) / np.sqrt(audio.var() + NORM_EPS)
        log_mel: Samples = self._features(audio, padding=0)[:, : WINDOW_S * 100]
        return log_mel.astype(np.float32)

    def completion(self, audio: Samples) -> float:
        assert self._session is not None, "load() first"
        (output,) = self._session.run(None, {self._input: self.features(audio)[None]})
        return float(np.asarray(output).reshape(-1)[0])
