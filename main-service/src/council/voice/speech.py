"""Which voice speaks for which council role, as the voice service maps them."""

from council.voice.client import VoiceClient


async def role_voices(voice: VoiceClient) -> dict[str, str]:
    """Council role -> voice id, for the voices the voice service maps to roles (e.g. XTTS speakers)."""
    response = await voice.request("GET", "/v1/audio/voices")
    if response.status_code != 200:
        return {}
    return {v["role"]: v["id"] for v in response.json().get("voices", []) if v.get("role")}
