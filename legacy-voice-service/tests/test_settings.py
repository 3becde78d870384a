"""Settings: `.env.example` copied to `.env` is the defaults, and empty values of optional settings mean unset."""

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from voice.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No VOICE_* variable of the machine running the tests may reach the settings."""
    for name in [name for name in os.environ if name.startswith("VOICE_")]:
        monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_environment")
def test_the_voice_lines_of_env_example_as_dotenv_are_the_defaults(tmp_path: Path) -> None:
    # The header of .env.example says: copy it to .env. Its voice section must start the service on the defaults.
    if not ENV_EXAMPLE.is_file():
        pytest.skip("run from the repository: .env.example is at its top level")
    voice_lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if line.startswith("VOICE_")]
    assert any(line.endswith("=") for line in voice_lines)  # the unset optional settings are listed empty
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(voice_lines) + "\n")
    settings = Settings(_env_file=env_file)
    assert settings == Settings(_env_file=None)
    assert settings.auth.service_token is None  # not the empty token, which would turn auth on
    assert settings.stt.whisper_model_path is None  # not Path("."), which would replace the bundled model
    assert settings.tts.noise_scale is None


@pytest.mark.usefixtures("clean_environment")
def test_empty_environment_values_of_optional_settings_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings(_env_file=None)
    for name in (
        "VOICE_AUTH__SERVICE_TOKEN",
        "VOICE_MODELS__CACHE_DIR",
        "VOICE_STT__WHISPER_MODEL_PATH",
        "VOICE_STT__PARAKEET_MODEL_PATH",
        "VOICE_TTS__PIPER_VOICE_PATH",
        "VOICE_TTS__XTTS_MODEL_PATH",
        "VOICE_TTS__NOISE_SCALE",
        "VOICE_TTS__NOISE_W_SCALE",
    ):
        monkeypatch.setenv(name, "")
    assert Settings(_env_file=None) == defaults


@pytest.mark.usefixtures("clean_environment")
def test_set_values_keep_their_meaning_zero_included(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICE_AUTH__SERVICE_TOKEN", "s3")
    monkeypatch.setenv("VOICE_TTS__NOISE_SCALE", "0")
    monkeypatch.setenv("VOICE_STT__WHISPER_MODEL_PATH", "/models/whisper")
    settings = Settings(_env_file=None)
    assert settings.auth.service_token is not None
    assert settings.auth.service_token.get_secret_value() == "s3"
    assert settings.tts.noise_scale == 0.0
    assert settings.stt.whisper_model_path == Path("/models/whisper")
    assert Settings(_env_file=None, tts={"noise_w_scale": 0}).tts.noise_w_scale == 0.0  # 0 is not "unset"
    with pytest.raises(ValidationError):
        Settings(_env_file=None, tts={"noise_scale": 3})  # the bounds still apply
