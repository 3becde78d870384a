"""Request size limits: bodies (a declared Content-Length over the limit at once, a streamed one on the way) and
headers (the HTTP server itself accepts headers of any size)."""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voice.errors import ErrorCode, error_response


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            response = error_response(413, ErrorCode.PAYLOAD_TOO_LARGE, self._message())
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # FastAPI re-raises HTTPException from body reading, so the error handler answers 413.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"The request body exceeds the limit of {self.max_body_bytes} bytes (VOICE_LIMITS__MAX_BODY_BYTES)."


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
