"""Parakeet (NeMo) and XTTS (Coqui) guards: unavailable with an actionable reason, never breaking the service.

These tests prove the guards and the configuration, not the engines' inference, and hold whether or not the
extras are installed: where they test the "cannot be imported" guard they make the import fail themselves.
HOME and XDG_* point at a temporary folder, since both libraries write caches there.
"""

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import AppClient
from voice.engines.stt.parakeet import ParakeetSTT
from voice.engines.tts.xtts import XttsTTS
from voice.errors import EngineUnavailable
from voice.settings import ModelSettings, Settings, SttSettings, TtsSettings


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for name, folder in (
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
    ):
        monkeypatch.setenv(name, str(home / folder))


@pytest.fixture
def coqui_not_agreed(monkeypatch: pytest.MonkeyPatch) -> None:
    """COQUI_TOS_AGREED absent during the test and restored after it (the engine sets it on load).

    `delenv(raising=False)` alone records nothing when the variable is absent, so the engine's value would leak;
    setting it first makes monkeypatch remember the original state."""
    monkeypatch.setenv("COQUI_TOS_AGREED", "recorded")
    monkeypatch.delenv("COQUI_TOS_AGREED")


def block_imports(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make importing `package` (and any of its modules already loaded) fail as when the extra is not installed."""
    for name in [package, *(name for name in sys.modules if name.startswith(f"{package}."))]:
        monkeypatch.setitem(sys.modules, name, None)


def test_parakeet_without_weights_names_model_cache_path_and_fix(tmp_path: Path) -> None:
    engine = ParakeetSTT(SttSettings(engine="parakeet"), ModelSettings(cache_dir=tmp_path))
    with pytest.raises(EngineUnavailable) as error:
        engine.load()
    message = error.value.message
    assert "nvidia/parakeet-tdt-0.6b-v2" in message
    assert str(tmp_path / "nvidia" / "parakeet-tdt-0.6b-v2") in message
    assert "huggingface-cli download" in message
    assert "VOICE_STT__PARAKEET_MODEL_PATH" in message


def test_parakeet_with_weights_but_no_nemo_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block_imports(monkeypatch, "nemo")
    folder = tmp_path / "nvidia" / "parakeet-tdt-0.6b-v2"
    folder.mkdir(parents=True)
    (folder / "parakeet.nemo").write_bytes(b"not read before NeMo imports")
    engine = ParakeetSTT(SttSettings(), ModelSettings(cache_dir=tmp_path))
    assert engine.locate_weights() == folder / "parakeet.nemo"
    with pytest.raises(
        EngineUnavailable, match=r"NeMo cannot be imported.*hybrid-council-voice\[nemo\].*torch==2\.13\.0"
    ):
        engine.load()


def test_parakeet_explicit_path_that_is_missing_is_reported(tmp_path: Path) -> None:
    engine = ParakeetSTT(SttSettings(parakeet_model_path=tmp_path / "x.nemo"), ModelSettings(cache_dir=tmp_path))
    assert engine.locate_weights() == f"VOICE_STT__PARAKEET_MODEL_PATH={tmp_path / 'x.nemo'} is not a file."


@pytest.mark.usefixtures("coqui_not_agreed")
def test_xtts_is_opt_in_by_licence_acceptance(tmp_path: Path) -> None:
    engine = XttsTTS(TtsSettings(), ModelSettings(cache_dir=tmp_path))
    with pytest.raises(EngineUnavailable, match=r"Coqui Public Model License.*VOICE_TTS__XTTS_LICENCE_ACCEPTED=true"):
        engine.load()
    assert "COQUI_TOS_AGREED" not in os.environ  # nothing is agreed on the user's behalf


@pytest.mark.usefixtures("coqui_not_agreed")
def test_xtts_accepted_but_not_importable_reports_itself_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block_imports(monkeypatch, "TTS")
    engine = XttsTTS(TtsSettings(xtts_licence_accepted=True), ModelSettings(cache_dir=tmp_path))
    with pytest.raises(EngineUnavailable) as error:
        engine.load()
    assert "coqui-tts cannot be imported" in error.value.message
    assert f"No weights for coqui/XTTS-v2 in {tmp_path / 'coqui' / 'XTTS-v2'}" in error.value.message
    assert os.environ["COQUI_TOS_AGREED"] == "1"  # so a real load never stops at the interactive prompt


def test_xtts_voices_are_one_per_council_role() -> None:
    engine = XttsTTS(TtsSettings(xtts_speakers={"chair": "Ana Florence", "critical": "Damien Black"}), ModelSettings())
    assert [(voice.id, voice.name, voice.extra["role"]) for voice in engine.voices()] == [
        ("xtts-chair", "Ana Florence", "chair"),
        ("xtts-critical", "Damien Black", "critical"),
    ]


def test_the_default_xtts_voices_are_the_main_services_council_roles() -> None:
    # The main service names its members analytical, creative and critical (COUNCIL_DELIBERATION__MEMBERS) and a chair.
    engine = XttsTTS(TtsSettings(), ModelSettings())
    assert [voice.id for voice in engine.voices()] == [
        "xtts-chair",
        "xtts-analytical",
        "xtts-creative",
        "xtts-critical",
    ]


def test_optional_engines_that_cannot_load_warn_and_the_defaults_still_serve(
    app_client: AppClient, tmp_path: Path
) -> None:
    client = app_client(
        Settings(
            _env_file=None,
            stt={"optional": ["parakeet"]},
            tts={"optional": ["xtts"]},
            vad={"enabled": False},
            models={"cache_dir": str(tmp_path)},
        )
    )
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "warn"
    statuses = {name: checks[0]["status"] for name, checks in body["checks"].items()}
    assert statuses == {"stt:whisper": "pass", "stt:parakeet": "warn", "tts:piper": "pass", "tts:xtts": "warn"}
    assert "nvidia/parakeet-tdt-0.6b-v2" in body["checks"]["stt:parakeet"][0]["output"]
    assert "VOICE_TTS__XTTS_LICENCE_ACCEPTED" in body["checks"]["tts:xtts"][0]["output"]

    refused = client.post(
        "/v1/audio/transcriptions", data={"model": "nvidia/parakeet-tdt-0.6b-v2"}, files={"file": ("a.wav", b"RIFF")}
    )
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "engine_unavailable"
    assert "huggingface-cli download" in refused.json()["error"]["message"]
    models = {card["id"]: card["status"] for card in client.get("/v1/models").json()["data"]}
    assert models == {
        "whisper-tiny.en": "ready",
        "nvidia/parakeet-tdt-0.6b-v2": "unavailable",
        "piper": "ready",
        "xtts-v2": "unavailable",
    }


def test_a_default_engine_that_cannot_load_fails_readiness(app_client: AppClient, tmp_path: Path) -> None:
    client = app_client(
        Settings(
            _env_file=None,
            stt={"engine": "parakeet"},
            tts={"enabled": False},
            vad={"enabled": False},
            models={"cache_dir": str(tmp_path)},
        )
    )
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["stt:parakeet"][0]["status"] == "fail"
    assert client.get("/health/live").status_code == 200
