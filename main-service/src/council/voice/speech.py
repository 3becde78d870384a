"""The speech calls the main service makes: VAD, transcription and streamed synthesis, over the voice client."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from council.errors import VoiceFailedError
from council.voice.client import VoiceClient
from council.voice.pcm import as_wav


@dataclass(frozen=True)
class SpeechSpan:
    start: float
    end: float


def _error_message(body: bytes, status: int) -> str:
    try:
        message: str = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = f"the voice service answered {status}"
    return message


async def detect_speech(voice: VoiceClient, pcm: bytes, sample_rate: int) -> list[SpeechSpan]:
    upload = {"file": ("window.wav", as_wav(pcm, sample_rate), "audio/wav")}
    response = await voice.request("POST", "/v1/audio/vad", files=upload)
    if response.status_code != 200:
        raise VoiceFailedError(
            f"Voice-activity detection failed: {_error_message(response.content, response.status_code)}"
        )
    return [SpeechSpan(s["start"], s["end"]) for s in response.json()["segments"]]


async def transcribe(voice: VoiceClient, pcm: bytes, sample_rate: int, language: str | None = None) -> str:
    upload = {"file": ("utterance.wav", as_wav(pcm, sample_rate), "audio/wav")}
    form = {"response_format": "json", **({"language": language} if language else {})}
    response = await voice.request("POST", "/v1/audio/transcriptions", files=upload, data=form)
    if response.status_code != 200:
        raise VoiceFailedError(f"Transcription failed: {_error_message(response.content, response.status_code)}")
    text: str = response.json()["text"]
    return text.strip()


async def synthesize(voice: VoiceClient, text: str, voice_id: str) -> AsyncIterator[bytes]:
    """Raw s16le mono 24 kHz PCM (OpenAI's `pcm`), chunk by chunk as the voice service synthesizes it."""
    request = {"input": text, "voice": voice_id, "response_format": "pcm"}
    response = await voice.open_stream("POST", "/v1/audio/speech", json=request)
    try:
        if response.status_code != 200:
            body = await response.aread()
            raise VoiceFailedError(f"Speech synthesis failed: {_error_message(body, response.status_code)}")
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()


async def role_voices(voice: VoiceClient) -> dict[str, str]:
    """Council role -> voice id, for the voices the voice service maps to roles (e.g. XTTS speakers)."""
    response = await voice.request("GET", "/v1/audio/voices")
    if response.status_code != 200:
        return {}
    return {v["role"]: v["id"] for v in response.json().get("voices", []) if v.get("role")}
