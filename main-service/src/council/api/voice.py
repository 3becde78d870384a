"""Voice proxy: `POST /api/voice/transcribe` and `POST /api/voice/speak`, forwarded to the voice service.

The voice service's own 4xx answers (bad audio, unknown voice, queue full) pass through unchanged: both
services share the error shape, and the request ID is the same on both sides.
"""

from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from council.api.deps import SettingsDep, VoiceDep
from council.api.responses import SPEECH_RESPONSES, TRANSCRIPTION_RESPONSES
from council.errors import CouncilError, ErrorCode, VoiceFailedError

TRANSCRIBE_PATH = "/api/voice/transcribe"
_PASSED_HEADERS = ("content-type", "retry-after")

router = APIRouter(prefix="/api/voice", tags=["voice"])


class SpeechTooLongError(CouncilError):
    """The voice service's own answer to over-long text (400 `text_too_long`), given before the text is sent."""

    status_code = 400
    code = ErrorCode.TEXT_TOO_LONG


class SpeakRequest(BaseModel):
    input: str = Field(min_length=1, description="Text to speak.")
    voice: str | None = Field(
        None, description="A voice id from the voice service's /v1/audio/voices; omitted: COUNCIL_VOICE__SPEECH_VOICE."
    )
    response_format: Literal["wav", "pcm", "mp3", "opus"] = Field(
        "wav", description="wav, raw s16le mono 24 kHz (pcm), mp3, or Opus in Ogg (opus)."
    )
    speed: float = Field(1.0, ge=0.25, le=4.0)


def _passthrough_headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers[name] for name in _PASSED_HEADERS if name in response.headers}


def _raise_for_server_error(response: httpx.Response) -> None:
    if response.status_code >= 500 and response.status_code != 503:
        raise VoiceFailedError(f"The voice service failed ({response.status_code}); see its logs for this request ID.")


@router.post(
    "/transcribe",
    summary="Speech to text through the voice service (multipart `file`, any common audio format)",
    response_class=Response,
    responses=TRANSCRIPTION_RESPONSES,
)
async def create_transcription(
    voice: VoiceDep,
    file: Annotated[UploadFile, File(description="Audio: wav, flac, mp3, ogg/opus, webm ...")],
    language: Annotated[str | None, Form(max_length=16)] = None,
    response_format: Annotated[Literal["json", "text", "verbose_json", "srt", "vtt"], Form()] = "json",
) -> Response:
    audio = await file.read()
    form = {"response_format": response_format, **({"language": language} if language else {})}
    upload = {"file": (file.filename or "audio", audio, file.content_type or "application/octet-stream")}
    # POST is not idempotent, so the client sends it once; the breaker still fails it fast while voice is down.
    response = await voice.request("POST", "/v1/audio/transcriptions", files=upload, data=form)
    _raise_for_server_error(response)
    return Response(response.content, status_code=response.status_code, headers=_passthrough_headers(response))


@router.post(
    "/speak",
    summary="Text to speech through the voice service, streamed as it is synthesized",
    response_class=Response,
    responses=SPEECH_RESPONSES,
)
async def create_speech(body: SpeakRequest, voice: VoiceDep, settings: SettingsDep) -> Response:
    if len(body.input) > settings.limits.max_speech_chars:
        raise SpeechTooLongError(
            f"The text has {len(body.input)} characters; the limit is {settings.limits.max_speech_chars} "
            "(COUNCIL_LIMITS__MAX_SPEECH_CHARS)."
        )
    request = {**body.model_dump(), "voice": body.voice or settings.voice.speech_voice}
    response = await voice.open_stream("POST", "/v1/audio/speech", json=request)
    if response.status_code >= 400:
        content = await response.aread()
        await response.aclose()
        _raise_for_server_error(response)
        return Response(content, status_code=response.status_code, headers=_passthrough_headers(response))
    return StreamingResponse(
        response.aiter_raw(),
        status_code=response.status_code,
        headers=_passthrough_headers(response),
        background=BackgroundTask(response.aclose),
    )
