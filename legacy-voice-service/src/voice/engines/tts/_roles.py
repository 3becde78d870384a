"""The voices of an engine that speaks one voice per council role (XTTS, Kyutai): ids `<engine>-<role>`."""

from collections.abc import Mapping

from voice.engines.base import TextToSpeech, VoiceInfo


def role_voices(engine: TextToSpeech, voices: Mapping[str, str]) -> list[VoiceInfo]:
    """One English voice per role, `<engine>-<role>`, named by what the engine speaks it with (a speaker, a file)."""
    return [
        VoiceInfo(
            id=f"{engine.name}-{role}",
            engine=engine.name,
            language="en",
            sample_rate=engine.sample_rate,
            name=voice,
            extra={"role": role},
        )
        for role, voice in voices.items()
    ]


def role_of(engine: TextToSpeech, voice: str) -> str:
    """The role a voice id names; an id without the engine's prefix is taken as the role itself."""
    return voice.removeprefix(f"{engine.name}-")
