"""The voice service's error codes and its exception tree: what can go wrong, and with which status.

How errors become HTTP answers (the one JSON shape, the handlers) is `voice.http_errors`."""

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_REQUEST = "invalid_request"
    HOST_NOT_ALLOWED = "host_not_allowed"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    HEADERS_TOO_LARGE = "headers_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    UNAUTHORIZED = "unauthorized"
    ENGINE_UNAVAILABLE = "engine_unavailable"
    INVALID_AUDIO = "invalid_audio"
    AUDIO_TOO_LONG = "audio_too_long"
    TEXT_TOO_LONG = "text_too_long"
    MODEL_NOT_FOUND = "model_not_found"
    VOICE_NOT_FOUND = "voice_not_found"
    UNSUPPORTED_FORMAT = "unsupported_format"
    INTERNAL_ERROR = "internal_error"


class VoiceError(Exception):
    """Base of every error this service raises on purpose; carries its HTTP status and code."""

    status_code: int = 500
    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidAudio(VoiceError):
    """The upload is not audio we can decode (empty, truncated, unknown container or codec)."""

    status_code = 400
    code = ErrorCode.INVALID_AUDIO


class AudioTooLong(VoiceError):
    status_code = 413
    code = ErrorCode.AUDIO_TOO_LONG


class TextTooLong(VoiceError):
    status_code = 400
    code = ErrorCode.TEXT_TOO_LONG


class InvalidRequest(VoiceError):
    status_code = 400
    code = ErrorCode.INVALID_REQUEST


class UnsupportedFormat(VoiceError):
    status_code = 400
    code = ErrorCode.UNSUPPORTED_FORMAT


class ModelNotFound(VoiceError):
    status_code = 404
    code = ErrorCode.MODEL_NOT_FOUND


class VoiceNotFound(VoiceError):
    status_code = 404
    code = ErrorCode.VOICE_NOT_FOUND


class EngineUnavailable(VoiceError):
    """An engine is configured but cannot run (missing extra, weights or licence opt-in); says how to fix it."""

    status_code = 503
    code = ErrorCode.ENGINE_UNAVAILABLE


class EngineBusy(VoiceError):
    """An engine's job queue is full; the caller should retry after `Retry-After` seconds."""

    status_code = 429
    code = ErrorCode.RATE_LIMITED


class TooManySessions(VoiceError):
    """Every realtime session slot is taken; the caller should retry after `Retry-After` seconds."""

    status_code = 429
    code = ErrorCode.RATE_LIMITED


class Unauthorized(VoiceError):
    status_code = 401
    code = ErrorCode.UNAUTHORIZED
