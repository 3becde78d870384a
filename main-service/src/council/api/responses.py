"""What routes answer besides their JSON success, documented once so the OpenAPI schema tells the truth."""

from typing import Any

from pydantic import BaseModel

Responses = dict[int | str, dict[str, Any]]


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None


class ErrorEnvelope(BaseModel):
    """The service's one error shape, whatever the status."""

    error: ErrorDetail


# Every route may answer these (body and header limits, rate limits, validation, an unavailable dependency), so they
# are documented on all of them; routes list their specific codes with better descriptions where it helps. A `4XX`
# entry also stops FastAPI from documenting its own 422 shape, which this service never sends.
ERROR_RESPONSES: Responses = {
    "4XX": {"model": ErrorEnvelope, "description": "The caller's mistake (the message says which and how to fix it)."},
    "5XX": {"model": ErrorEnvelope, "description": "A dependency is unavailable (503, with Retry-After) or failed."},
}

_BINARY = {"schema": {"type": "string", "format": "binary"}}

SPEECH_RESPONSES: Responses = {
    200: {
        "description": "Audio, streamed as it is synthesized.",
        "content": {media_type: _BINARY for media_type in ("audio/wav", "audio/pcm", "audio/mpeg", "audio/ogg")},
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

EVENT_STREAM_RESPONSES: Responses = {
    200: {
        "description": "Server-sent events: `data` is one event as JSON, `event` (when present) its type.",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
                }
            }
        },
    }
}

METRICS_RESPONSES: Responses = {
    200: {
        "description": "Prometheus text exposition format.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}
