"""The real NeMo loading and transcription path, on a tiny randomly initialised CTC model the test builds.

Runs only where the `nemo` extra is installed (a >1 GB install with torch, so not in the default environment);
elsewhere it is skipped with that reason, except in the NeMo suite of `make test` (VOICE_TEST_NEMO_REQUIRED=1), where
a missing extra is a failure: a suite whose one real test skipped would pass while proving nothing. HOME and XDG_*
point at a temporary folder: NeMo writes caches there.
"""

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from voice.engines.base import TranscriptionOptions
from voice.engines.stt.parakeet import ParakeetSTT
from voice.settings import ModelSettings, SttSettings

pytestmark = pytest.mark.skipif(
    os.environ.get("VOICE_TEST_NEMO_REQUIRED") != "1" and importlib.util.find_spec("nemo") is None,
    reason="the nemo extra is not installed (pip install '.[nemo]' torch==2.13.0)",
)

LABELS = list(" abcdefghijklmnopqrstuvwxyz'")


def build_tiny_model(path: Path) -> None:
    from nemo.collections.asr.models import EncDecCTCModel
    from omegaconf import OmegaConf

    config = OmegaConf.create(
        {
            "sample_rate": 16_000,
            "labels": LABELS,
            "preprocessor": {
                "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                "sample_rate": 16_000,
                "features": 16,
                "window_size": 0.025,
                "window_stride": 0.01,  # real configs state both; word timestamps need the stride
            },
            "encoder": {
                "_target_": "nemo.collections.asr.modules.ConvASREncoder",
                "feat_in": 16,
                "activation": "relu",
                "conv_mask": True,
                "jasper": [
                    {
                        "filters": 32,
                        "repeat": 1,
                        "kernel": [5],
                        "stride": [1],
                        "dilation": [1],
                        "dropout": 0.0,
                        "residual": False,
                        "separable": True,
                    }
                ],
            },
            "decoder": {
                "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
                "feat_in": 32,
                "num_classes": len(LABELS),
                "vocabulary": LABELS,
            },
        }
    )
    EncDecCTCModel(cfg=config).save_to(str(path))


def test_a_nemo_model_from_the_cache_loads_and_transcribes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "NEMO_CACHE_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / "home" / variable.lower()))
    folder = tmp_path / "cache" / "tiny" / "ctc"
    folder.mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NeMo's own deprecation noise is not this service's
        build_tiny_model(folder / "tiny.nemo")
        engine = ParakeetSTT(SttSettings(parakeet_model="tiny/ctc"), ModelSettings(cache_dir=tmp_path / "cache"))
        engine.load()
        engine.warm_up()
        audio = np.random.default_rng(0).normal(0, 0.1, 16_000).astype(np.float32)
        transcript = engine.transcribe(audio, TranscriptionOptions())
        with_words = engine.transcribe(audio, TranscriptionOptions(word_timestamps=True))
    assert with_words.text == transcript.text
    assert all(0.0 <= word.start <= word.end <= 1.0 for word in with_words.words)
    assert transcript.duration == 1.0
    assert isinstance(transcript.text, str)
    assert set(transcript.text) <= set(LABELS)  # an untrained model says nonsense, but in its own alphabet
