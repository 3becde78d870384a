"""What routes answer besides their JSON success, documented once so the OpenAPI schema tells the truth."""

from typing import Any

from pydantic import BaseModel

from voice.audio import MEDIA_TYPES

Responses = dict[int | str, dict[str, Any]]


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None


class ErrorEnvelope(BaseModel):
    """The service's one error shape, whatever the status (the `openai` SDK unwraps exactly this)."""

    error: ErrorDetail


# Every route may answer these (limits, the service token, undecodable audio, a full engine queue), so they are
# documented on all of them. A `4XX` entry also stops FastAPI from documenting its own 422 shape, never sent here.
ERROR_RESPONSES: Responses = {
    "4XX": {"model": ErrorEnvelope, "description": "The caller's mistake (the message says which and how to fix it)."},
    "5XX": {"model": ErrorEnvelope, "description": "An engine is unavailable (503) or failed."},
}

_BINARY = {"schema": {"type": "string", "format": "binary"}}

SPEECH_RESPONSES: Responses = {
    200: {
        "description": "Audio, streamed as it is synthesized.",
        "content": {media_type: _BINARY for media_type in MEDIA_TYPES.values()},
    }
}

TRANSCRIPTION_RESPONSES: Responses = {
    200: {
        "description": "The transcript: JSON for json/verbose_json, plain text for text, subtitles for srt/vtt.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/plain": {"schema": {"type": "string"}},
            "application/x-subrip": {"schema": {"type": "string"}},
            "text/vtt": {"schema": {"type": "string"}},
        },
    }
}

METRICS_RESPONSES: Responses = {
    200: {
        "description": "Prometheus text exposition format.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}
