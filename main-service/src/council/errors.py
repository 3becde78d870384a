"""The main service's error codes and its exception tree: what can go wrong, and with which status.

How errors become HTTP answers (the one JSON shape, the handlers) is `council.http_errors`."""

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
    VOICE_UNAVAILABLE = "voice_unavailable"
    VOICE_FAILED = "voice_failed"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    BUDGET_EXCEEDED = "budget_exceeded"
    AGENT_PAUSED = "agent_paused"
    TOOL_UNAVAILABLE = "tool_unavailable"
    TOOL_CALL_IN_PROGRESS = "tool_call_in_progress"
    STORAGE_FULL = "storage_full"
    MODEL_UNAVAILABLE = "model_unavailable"
    COUNCIL_FAILED = "council_failed"
    TOO_MANY_TURNS = "too_many_turns"
    TEXT_TOO_LONG = "text_too_long"
    INTERNAL_ERROR = "internal_error"


class CouncilError(Exception):
    """Base of every error this service raises on purpose; carries its HTTP status and code."""

    status_code: int = 500
    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class ForbiddenError(CouncilError):
    """The caller is known but may not do this (a client key where the admin key is needed)."""

    status_code = 403
    code = ErrorCode.FORBIDDEN


class VoiceUnavailableError(CouncilError):
    """The voice service cannot be reached or its circuit breaker is open."""

    status_code = 503
    code = ErrorCode.VOICE_UNAVAILABLE


class NotFoundError(CouncilError):
    """The addressed resource (conversation, model) does not exist; the message says what does."""

    status_code = 404
    code = ErrorCode.NOT_FOUND


class InvalidRequestError(CouncilError):
    """The request is well-formed but cannot be served as asked (empty message, unavailable path)."""

    status_code = 422
    code = ErrorCode.INVALID_REQUEST


class ModelUnavailableError(CouncilError):
    """A model needed for the answer (fast role, chair) failed or timed out."""

    status_code = 502
    code = ErrorCode.MODEL_UNAVAILABLE


class CouncilFailedError(CouncilError):
    """Every council member failed, so there is nothing to synthesize."""

    status_code = 502
    code = ErrorCode.COUNCIL_FAILED


class VoiceFailedError(CouncilError):
    """The voice service answered with a server error of its own."""

    status_code = 502
    code = ErrorCode.VOICE_FAILED
