"""The turn engines: Smart Turn's input is the model's own front end, and a missing model is reported with its fix
while the service stays ready and ends turns on silence."""

import importlib.util
from importlib import metadata
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.conftest import AppClient
from voice.engines.turn import smart_turn
from voice.engines.turn.smart_turn import SmartTurn
from voice.errors import EngineUnavailable
from voice.settings import Settings, TurnSettings


def reference_features() -> ModuleType:
    """The numpy feature code that ships beside the model in pipecat-ai, loaded from its file (importing the
    `pipecat` package would need its dependencies, which this service does not install)."""
    path = Path(
        str(metadata.distribution("pipecat-ai").locate_file("pipecat/audio/turn/smart_turn/_whisper_features.py"))
    )
    spec = importlib.util.spec_from_file_location("smart_turn_reference_features", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smart_turn_features_match_the_reference_front_end_of_the_model() -> None:
    engine = SmartTurn(TurnSettings())
    engine.load()
    rng = np.random.default_rng(7)
    t = np.arange(3 * 16_000) / 16_000
    voiced = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t)) + 0.01 * rng.standard_normal(t.size)
    audio = voiced.astype(np.float32)
    reference = reference_features().compute_whisper_log_mel_features(np.pad(audio, (8 * 16_000 - audio.size, 0)))
    ours = engine.features(audio)
    assert ours.shape == reference.shape == (80, 800)
    assert np.abs(ours - reference).max() < 1e-3
    # Longer audio: only its last 8 s count.
    longer = np.concatenate([rng.standard_normal(5 * 16_000).astype(np.float32), audio, audio, audio])
    assert np.array_equal(engine.features(longer), engine.features(longer[-8 * 16_000 :]))
    assert 0.0 <= engine.completion(audio) <= 1.0


def test_smart_turn_without_the_pipecat_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smart_turn, "bundled_model_path", lambda: None)
    with pytest.raises(EngineUnavailable) as error:
        SmartTurn(TurnSettings()).load()
    message = error.value.message
    assert "pipecat-ai" in message
    assert "requirements-nodeps.txt" in message
    assert "VOICE_TURN__MODEL_PATH" in message


def test_a_missing_turn_model_leaves_the_service_ready_ending_turns_on_silence(
    app_client: AppClient, tmp_path: Path
) -> None:
    missing = tmp_path / "smart-turn.onnx"
    client = app_client(Settings(_env_file=None, turn={"model_path": missing}))
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    (check,) = ready.json()["checks"]["turn:smart-turn"]
    assert check["status"] == "warn"
    assert f"VOICE_TURN__MODEL_PATH={missing} is not a file" in check["output"]
    assert ready.json()["checks"]["turn:silence"][0]["status"] == "pass"
    with client.websocket_connect("ws://localhost/v1/realtime") as socket:
        assert socket.receive_json()["session"]["turn_detection"] == {"type": "server_vad", "silence_duration_ms": 500}
