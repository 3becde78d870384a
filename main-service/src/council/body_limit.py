"""Caps request bodies: a declared Content-Length over the limit is refused at once, a streamed one on the way."""

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from council.errors import ErrorCode, error_response


class BodyLimitMiddleware:
    """One default limit, and larger ones for the few paths that take uploads (`{path: (bytes, setting)}`)."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, upload_paths: Mapping[str, tuple[int, str]] | None = None
    ) -> None:
        self.app = app
        self.default = (max_body_bytes, "COUNCIL_LIMITS__MAX_BODY_BYTES")
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
