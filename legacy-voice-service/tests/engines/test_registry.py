"""Engine selection by settings (environment included) and helpful misses."""

import pytest

from voice.engines.registry import EngineRegistry
from voice.engines.stt.parakeet import ParakeetSTT
from voice.engines.tts.piper import PiperTTS
from voice.errors import InvalidRequest, ModelNotFound
from voice.observability.metrics import Metrics
from voice.settings import Settings


def test_engines_are_chosen_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICE_STT__ENGINE", "parakeet")
    monkeypatch.setenv("VOICE_STT__OPTIONAL", '["whisper"]')
    monkeypatch.setenv("VOICE_VAD__ENABLED", "false")
    registry = EngineRegistry(Settings(_env_file=None), Metrics())
    assert [(loaded.name, loaded.default) for loaded in registry.stt] == [("parakeet", True), ("whisper", False)]
    assert isinstance(registry.transcriber("whisper-1").engine, ParakeetSTT)  # OpenAI's name means the default
    assert registry.transcriber("whisper-tiny.en").name == "whisper"
    assert isinstance(registry.synthesizer("tts-1").engine, PiperTTS)
    assert registry.vad is None


def test_an_unknown_model_lists_the_known_ones() -> None:
    registry = EngineRegistry(Settings(_env_file=None), Metrics())
    with pytest.raises(ModelNotFound, match=r"'large-v3'.*whisper-1.*whisper-tiny\.en.*GET /v1/models"):
        registry.transcriber("large-v3")
    with pytest.raises(ModelNotFound, match=r"'kokoro'.*piper.*tts-1"):
        registry.synthesizer("kokoro")


@pytest.mark.parametrize("voice", ["../../etc/passwd", "voices/en_US", "/abs", "a..b", "x" * 65, ""])
def test_path_like_voice_names_are_refused_before_any_lookup(voice: str) -> None:
    registry = EngineRegistry(Settings(_env_file=None), Metrics())
    with pytest.raises(InvalidRequest, match="Invalid voice name"):
        registry.resolve_voice(voice, registry.tts[0])
