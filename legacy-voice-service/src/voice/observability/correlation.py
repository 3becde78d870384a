"""Request correlation: accept or mint `X-Request-ID`, keep a W3C trace, bind both into every log line."""

import re
import secrets
import time
import uuid
from contextvars import ContextVar

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)

log = structlog.get_logger("voice.access")


def current_request_id() -> str | None:
    return _request_id.get()


def accept_request_id(candidate: str | None) -> str:
    """The caller's ID when it is a sane token; otherwise a new one (never echo arbitrary bytes into logs)."""
    if candidate and _VALID_REQUEST_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex


def _trace_id_from(traceparent: str | None) -> str:
    match = _TRACEPARENT.match(traceparent or "")
    if match and match.group(1) != "0" * 32:
        return match.group(1)
    return secrets.token_hex(16)


class RequestContextMiddleware:
    """Pure ASGI so the IDs are bound for the whole request, streaming bodies and WebSockets included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        request_id = accept_request_id(headers.get("x-request-id"))
        trace_id = _trace_id_from(headers.get("traceparent"))
        request_token = _request_id.set(request_id)
        trace_token = _trace_id.set(trace_id)
        structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)
        started = time.perf_counter()
        status: list[int] = []

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):  # a refused handshake too
                status.append(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                # Health probes arrive every few seconds; they stay at debug level unless they fail.
                quiet = scope["path"].startswith("/health/") and bool(status) and status[0] < 400
                (log.debug if quiet else log.info)(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status[0] if status else None,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
            structlog.contextvars.unbind_contextvars("request_id", "trace_id")
            _request_id.reset(request_token)
            _trace_id.reset(trace_token)
