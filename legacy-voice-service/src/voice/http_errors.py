"""The voice service's one error shape, `{"error": {"code", "message", "request_id"}}`: its errors, Starlette's
and validation failures as HTTP answers, and a catch-all for the unexpected (on `HTTPMiddleware`, which the security
headers share). Twin of the other service's module (scripts/twin-diff keeps the two in step)."""

import abc
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voice.errors import ErrorCode, VoiceError
from voice.observability.correlation import current_request_id

log = structlog.get_logger(__name__)

_CODE_BY_STATUS = {  # Starlette's HTTP errors by status
    400: ErrorCode.INVALID_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    431: ErrorCode.HEADERS_TOO_LARGE,
    401: ErrorCode.UNAUTHORIZED,
    422: ErrorCode.INVALID_REQUEST,
    429: ErrorCode.RATE_LIMITED,
}


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


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VoiceError)
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
    app.add_exception_handler(VoiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


class HTTPMiddleware(abc.ABC):
    """A pure ASGI middleware that acts on HTTP requests only; WebSocket and lifespan scopes pass straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, send)

    @abc.abstractmethod
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class CatchAllMiddleware(HTTPMiddleware):
    """Turns an unexpected exception into a logged 500 in the one error shape (inside request correlation)."""

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
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
