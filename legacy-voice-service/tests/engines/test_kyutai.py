"""Kyutai TTS guards and configuration: where the files are looked for, what a missing piece says, one voice per
council role, and a service that keeps serving when the engine cannot load.

These tests hold with or without the `kyutai` extra: where they test the "cannot be imported" guard they make the
import fail themselves. The model folders written here are stand-ins: a config.json with empty files of the names it
gives, enough for the lookup (which reads names, not contents); the real loading and synthesis path runs on a real,
tiny model in test_kyutai_moshi.py.
"""

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import voice.engines.tts as tts_engines
from tests.conftest import AppClient
from voice.engines.registry import EngineRegistry
from voice.engines.tts.kyutai import KyutaiFiles, KyutaiTTS
from voice.errors import EngineUnavailable
from voice.observability.metrics import Metrics
from voice.settings import ModelSettings, Settings, TtsSettings

MODEL = "kyutai/tts-1.6b-en_fr"
# The real model's config.json, as far as the lookup reads it (file names, voice conditioning, signature).
REAL_CONFIG: dict[str, Any] = {
    "moshi_name": "dsm_tts_1e68beda@240.safetensors",
    "mimi_name": "tokenizer-e351c8d8-checkpoint125.safetensors",
    "tokenizer_name": "tokenizer_spm_8k_en_fr_audio.model",
    "model_id": {"sig": "1e68beda", "epoch": 240},
    "conditioners": {"speaker_wavs": {"type": "tensor", "tensor": {"dim": 512}}},
}


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write_model(folder: Path, config: dict[str, Any], *, skip: tuple[str, ...] = ()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    for key in ("moshi_name", "mimi_name", "tokenizer_name", "mimi_config_name"):
        if key in config and config[key] not in skip:
            (folder / config[key]).write_bytes(b"")


def write_voices(folder: Path, voices: list[str], suffix: str = ".1e68beda@240.safetensors") -> None:
    for voice in voices:
        path = folder / f"{voice}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def block_moshi(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing moshi (and any of its modules already loaded) fails, as when the extra is not installed."""
    for name in ["moshi", *(name for name in sys.modules if name.startswith("moshi."))]:
        monkeypatch.setitem(sys.modules, name, None)
    # The engine module that wraps moshi is imported again (and fails) rather than found already loaded.
    monkeypatch.delitem(sys.modules, "voice.engines.tts._kyutai_speech", raising=False)
    monkeypatch.delattr(tts_engines, "_kyutai_speech", raising=False)


def test_without_weights_the_error_names_model_cache_path_and_how_to_provide_them(tmp_path: Path) -> None:
    engine = KyutaiTTS(TtsSettings(), ModelSettings(cache_dir=tmp_path))
    with pytest.raises(EngineUnavailable) as error:
        engine.load()
    message = error.value.message
    folder = tmp_path / "kyutai" / "tts-1.6b-en_fr"
    assert f"No weights for {MODEL} in {folder} (missing config.json)" in message
    assert f"huggingface-cli download {MODEL} --local-dir {folder}" in message
    assert "VOICE_TTS__KYUTAI_MODEL_PATH" in message


def test_missing_model_files_are_named_from_the_models_own_config(tmp_path: Path) -> None:
    folder = tmp_path / "kyutai" / "tts-1.6b-en_fr"
    write_model(folder, REAL_CONFIG, skip=("dsm_tts_1e68beda@240.safetensors",))
    write_voices(tmp_path / "kyutai" / "tts-voices", list(TtsSettings().kyutai_voices.values()))
    problems = KyutaiTTS(TtsSettings(), ModelSettings(cache_dir=tmp_path)).locate()
    assert problems == [
        f"Incomplete weights for {MODEL} in {folder} (missing dsm_tts_1e68beda@240.safetensors). Model hubs are not "
        f"contacted at run time; on a machine with hub access run `huggingface-cli download {MODEL} --local-dir "
        f"{folder}` and copy that folder here, or set VOICE_TTS__KYUTAI_MODEL_PATH."
    ]


def test_missing_voice_embeddings_are_named_with_the_files_to_download(tmp_path: Path) -> None:
    write_model(tmp_path / "kyutai" / "tts-1.6b-en_fr", REAL_CONFIG)
    voices = tmp_path / "kyutai" / "tts-voices"
    write_voices(voices, ["vctk/p225_023.wav"])
    settings = TtsSettings(kyutai_voices={"chair": "vctk/p225_023.wav", "critical": "vctk/p262_023.wav"})
    problems = KyutaiTTS(settings, ModelSettings(cache_dir=tmp_path)).locate()
    assert isinstance(problems, list)
    [message] = problems
    missing = "vctk/p262_023.wav.1e68beda@240.safetensors"
    assert f"No voice embeddings for {MODEL} in {voices} (missing {missing})" in message
    assert f"huggingface-cli download kyutai/tts-voices {missing} --local-dir {voices}" in message
    assert "VOICE_TTS__KYUTAI_VOICES" in message


def test_a_complete_model_folder_gives_every_file_by_local_path(tmp_path: Path) -> None:
    model, voices = tmp_path / "model", tmp_path / "voices"
    write_model(model, {**REAL_CONFIG, "mimi_config_name": "mimi.json"})
    write_voices(voices, ["vctk/p225_023.wav"])
    settings = TtsSettings(
        kyutai_model_path=model, kyutai_voices_path=voices, kyutai_voices={"chair": "vctk/p225_023.wav"}
    )
    assert KyutaiTTS(settings, ModelSettings(cache_dir=tmp_path / "unused")).locate() == KyutaiFiles(
        config=model / "config.json",
        lm=model / "dsm_tts_1e68beda@240.safetensors",
        mimi=model / "tokenizer-e351c8d8-checkpoint125.safetensors",
        tokenizer=model / "tokenizer_spm_8k_en_fr_audio.model",
        mimi_config=model / "mimi.json",
        lora=None,
        voices={"chair": (voices / "vctk/p225_023.wav.1e68beda@240.safetensors").resolve()},
    )


@pytest.mark.parametrize("voice", ["../../outside.wav", "/etc/passwd"])
def test_a_voice_outside_the_voices_folder_is_refused(tmp_path: Path, voice: str) -> None:
    write_model(tmp_path / "kyutai" / "tts-1.6b-en_fr", REAL_CONFIG)
    problems = KyutaiTTS(TtsSettings(kyutai_voices={"chair": voice}), ModelSettings(cache_dir=tmp_path)).locate()
    assert isinstance(problems, list)
    assert problems == [
        f"VOICE_TTS__KYUTAI_VOICES names voices outside {(tmp_path / 'kyutai' / 'tts-voices').resolve()} (for chair)."
    ]


def test_a_file_name_with_a_path_in_config_json_is_refused(tmp_path: Path) -> None:
    hub_path = "hf://kyutai/x/model.st"  # moshi would download this one from the hub
    write_model(tmp_path / "kyutai" / "tts-1.6b-en_fr", {**REAL_CONFIG, "moshi_name": hub_path}, skip=(hub_path,))
    problems = KyutaiTTS(TtsSettings(), ModelSettings(cache_dir=tmp_path)).locate()
    assert isinstance(problems, list)
    assert "names moshi_name='hf://kyutai/x/model.st', which is not a file name" in problems[0]


def test_a_model_conditioned_on_audio_prefixes_is_reported_as_unsupported(tmp_path: Path) -> None:
    config = {key: value for key, value in REAL_CONFIG.items() if key != "conditioners"}
    write_model(tmp_path / "kyutai" / "tts-0.75b-en-public", config)
    settings = TtsSettings(kyutai_model="kyutai/tts-0.75b-en-public")
    problems = KyutaiTTS(settings, ModelSettings(cache_dir=tmp_path)).locate()
    assert isinstance(problems, list)
    assert "takes its voice from an audio prefix" in problems[0]


def test_with_the_files_but_no_moshi_the_error_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block_moshi(monkeypatch)
    write_model(tmp_path / "kyutai" / "tts-1.6b-en_fr", REAL_CONFIG)
    write_voices(tmp_path / "kyutai" / "tts-voices", list(TtsSettings().kyutai_voices.values()))
    engine = KyutaiTTS(TtsSettings(), ModelSettings(cache_dir=tmp_path))
    assert isinstance(engine.locate(), KyutaiFiles)
    with pytest.raises(EngineUnavailable) as error:
        engine.load()
    # Without the extra torch is missing first; with it, moshi is (blocked here).
    assert re.match(r"moshi or torch cannot be imported \((ModuleNotFound|Import)Error", error.value.message)
    assert "hybrid-council-voice[kyutai]" in error.value.message
    assert "torch==2.13.0" in error.value.message


def test_voices_are_one_per_council_role() -> None:
    engine = KyutaiTTS(TtsSettings(kyutai_voices={"chair": "vctk/p225_023.wav"}), ModelSettings())
    [voice] = engine.voices()
    assert (voice.id, voice.name, voice.extra, voice.sample_rate) == (
        "kyutai-chair",
        "vctk/p225_023.wav",
        {"role": "chair"},
        24_000,
    )


def test_the_default_voices_are_the_main_services_council_roles_with_commercially_usable_voices() -> None:
    engine = KyutaiTTS(TtsSettings(), ModelSettings())
    assert [voice.id for voice in engine.voices()] == [
        "kyutai-chair",
        "kyutai-analytical",
        "kyutai-creative",
        "kyutai-critical",
    ]
    # vctk/ voices are CC-BY-4.0 like the model; expresso/ and ears/ in the same repository are non-commercial.
    assert all(voice.name.startswith("vctk/") for voice in engine.voices())


def test_kyutai_is_chosen_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VOICE_TTS__ENGINE", "kyutai")
    monkeypatch.setenv("VOICE_TTS__KYUTAI_VOICES", '{"chair": "vctk/p228_023.wav"}')
    monkeypatch.setenv("VOICE_TTS__KYUTAI_DEVICE", "cuda:1")
    monkeypatch.setenv("VOICE_TTS__KYUTAI_CODEBOOKS", "16")
    settings = Settings(_env_file=None, stt={"enabled": False}, vad={"enabled": False})
    assert (settings.tts.kyutai_device, settings.tts.kyutai_codebooks) == ("cuda:1", 16)
    registry = EngineRegistry(settings, Metrics())
    engine = registry.synthesizer("tts-1").engine
    assert isinstance(engine, KyutaiTTS)
    assert [voice.id for voice in engine.voices()] == ["kyutai-chair"]
    assert registry.synthesizer(MODEL) is registry.synthesizer("kyutai")


def _tts_only(cache_dir: Path, tts: dict[str, Any]) -> Settings:
    """The service with text-to-speech alone, its models looked for in `cache_dir` (empty: no Kyutai weights)."""
    return Settings(
        _env_file=None, stt={"enabled": False}, tts=tts, vad={"enabled": False}, models={"cache_dir": str(cache_dir)}
    )


def test_an_optional_kyutai_that_cannot_load_warns_and_piper_still_serves(
    app_client: AppClient, tmp_path: Path
) -> None:
    client = app_client(_tts_only(tmp_path, {"optional": ["kyutai"]}))
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    check = ready.json()["checks"]["tts:kyutai"][0]
    assert check["status"] == "warn"
    assert f"No weights for {MODEL}" in check["output"]
    models = {card["id"]: (card["status"], card["licence"]) for card in client.get("/v1/models").json()["data"]}
    assert models[MODEL][0] == "unavailable"
    assert "CC-BY-4.0" in models[MODEL][1]
    refused = client.post("/v1/audio/speech", json={"model": "kyutai", "input": "Hello.", "voice": "kyutai-chair"})
    assert refused.status_code == 503
    assert "huggingface-cli download" in refused.json()["error"]["message"]
    spoken = client.post(
        "/v1/audio/speech", json={"input": "Hello.", "voice": "en_US-joe-medium", "response_format": "pcm"}
    )
    assert spoken.status_code == 200
    assert len(spoken.content) > 0


def test_kyutai_as_the_default_that_cannot_load_fails_readiness_but_not_liveness(
    app_client: AppClient, tmp_path: Path
) -> None:
    client = app_client(_tts_only(tmp_path, {"engine": "kyutai"}))
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["tts:kyutai"][0]["status"] == "fail"
    assert client.get("/health/live").status_code == 200
