"""Request size limits: bodies (a declared Content-Length over the limit at once, a streamed one on the way) and
headers (the HTTP server itself accepts headers of any size)."""

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voice.errors import ErrorCode
from voice.http_errors import error_response


class BodyLimitMiddleware:
    """One default limit, and larger ones for the few paths that take uploads (`{path: (bytes, setting)}`)."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, upload_paths: Mapping[str, tuple[int, str]] | None = None
    ) -> None:
        self.app = app
        self.default = (max_body_bytes, "VOICE_LIMITS__MAX_BODY_BYTES")
        self.upload_paths = dict(upload_paths or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.upload_paths.get(scope["path"], self.default)
        message = f"The request body exceeds the limit of {limit} bytes ({setting})."
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            response = error_response(413, ErrorCode.PAYLOAD_TOO_LARGE, message)
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message_in = await receive()
            if message_in["type"] == "http.request":
                received += len(message_in.get("body", b""))
                if received > limit:
                    # FastAPI re-raises HTTPException from body reading, so the error handler answers 413.
                    raise HTTPException(413, message)
            return message_in

        await self.app(scope, counting_receive, send)


class HeaderLimitMiddleware:
    """Refuses requests and WebSocket handshakes whose headers, all together, exceed the limit (431 / close 1009)."""

    def __init__(self, app: ASGIApp, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        size = sum(len(name) + len(value) for name, value in scope["headers"])
        if size <= self.max_header_bytes:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1009, "reason": "headers too large"})
            return
        message = (
            f"The request headers total {size} bytes; the limit is {self.max_header_bytes} "
            "(VOICE_LIMITS__MAX_HEADER_BYTES)."
        )
        response = error_response(431, ErrorCode.HEADERS_TOO_LARGE, message)
        await response(scope, receive, send)
