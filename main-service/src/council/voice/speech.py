"""The voices the voice service speaks with, and which speaks for which council role."""

from dataclasses import dataclass

from council.voice.client import VoiceClient


@dataclass(frozen=True)
class VoiceCatalog:
    ids: frozenset[str]  # every voice of its ready speech engines
    by_role: dict[str, str]  # council role -> voice id, for the voices mapped to roles (e.g. XTTS speakers)


async def voice_catalog(voice: VoiceClient) -> VoiceCatalog:
    """What `GET /v1/audio/voices` lists (none when it does not answer 200)."""
    response = await voice.request("GET", "/v1/audio/voices")
    voices = response.json().get("voices", []) if response.status_code == 200 else []
    return VoiceCatalog(frozenset(v["id"] for v in voices), {v["role"]: v["id"] for v in voices if v.get("role")})
