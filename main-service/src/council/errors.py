"""The main service's one error shape, `{"error": {"code", "message", "request_id"}}`, and its handlers."""

from enum import StrEnum
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from council.observability.correlation import current_request_id

log = structlog.get_logger(__name__)


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_REQUEST = "invalid_request"
    HOST_NOT_ALLOWED = "host_not_allowed"
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


_CODE_BY_STATUS = {
    400: ErrorCode.INVALID_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    431: ErrorCode.HEADERS_TOO_LARGE,
    422: ErrorCode.INVALID_REQUEST,
    429: ErrorCode.RATE_LIMITED,
}


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


def error_response(
    status_code: int, code: ErrorCode, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code.value, "message": message, "request_id": current_request_id()}}
    return JSONResponse(body, status_code=status_code, headers=headers)


async def refuse_handshake(
    scope: Scope, receive: Receive, send: Send, response: JSONResponse, *, close_code: int, reason: str
) -> None:
    """Refuse a WebSocket handshake with `response` (the error envelope, which clients see as the handshake's HTTP
    answer); a server without the denial-response extension gets the close code instead (a bare 403)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await response(scope, receive, send)
    else:
        await send({"type": "websocket.close", "code": close_code, "reason": reason})


async def _council_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CouncilError)
    log.warning("request_failed", code=exc.code.value, status=exc.status_code, reason=exc.message)
    return error_response(exc.status_code, exc.code, exc.message, exc.headers)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_BY_STATUS.get(exc.status_code, ErrorCode.INVALID_REQUEST)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    log.info("request_rejected", code=code.value, status=exc.status_code, reason=message)
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[Any] = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        log.info("request_rejected", code=ErrorCode.INVALID_JSON.value, status=400)
        return error_response(400, ErrorCode.INVALID_JSON, "The request body is not valid JSON.")
    message = "; ".join(_describe(error) for error in errors) or "The request is invalid."
    log.info("request_rejected", code=ErrorCode.INVALID_REQUEST.value, status=422, reason=message)
    return error_response(422, ErrorCode.INVALID_REQUEST, message)


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{location}: {error.get('msg', 'invalid')}" if location else str(error.get("msg", "invalid"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CouncilError, _council_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


class CatchAllMiddleware:
    """Turns an unexpected exception into a logged 500 in the one error shape (inside request correlation)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled_error")
            if started:
                raise  # Too late for an error body; the server closes the connection.
            response = error_response(500, ErrorCode.INTERNAL_ERROR, "An unexpected error occurred.")
            await response(scope, receive, send)
