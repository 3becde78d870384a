"""What every session does with its client's socket: serialized sends, the one error shape, the chat rate limit."""

import asyncio
import json
from typing import Any

import structlog
from fastapi import WebSocket
from starlette.websockets import WebSocketState

from council.auth import Caller
from council.errors import ErrorCode
from council.observability.correlation import current_request_id
from council.ratelimit import RateLimiter

log = structlog.get_logger(__name__)

# RFC 6455 close codes the sessions use.
CLOSE_NORMAL, CLOSE_UNSUPPORTED_DATA, CLOSE_POLICY, CLOSE_TOO_BIG = 1000, 1003, 1008, 1009
CLOSE_INTERNAL_ERROR, CLOSE_TRY_LATER = 1011, 1013


class SocketSession:
    """One client socket: frames are sent one at a time (concurrent tasks never interleave one), and nothing is sent
    after either side has closed it."""

    def __init__(self, websocket: WebSocket, caller: Caller, rate_limiter: RateLimiter | None) -> None:
        self.websocket = websocket
        self.caller = caller  # as the handshake's key says: every turn of the socket is asked by them
        self.rate_limiter = rate_limiter
        self._send_lock = asyncio.Lock()

    @property
    def is_open(self) -> bool:
        """Neither side has closed the socket (after our close, a turn still running must not send)."""
        connected = WebSocketState.CONNECTED
        return self.websocket.client_state is connected and self.websocket.application_state is connected

    async def send(self, payload: dict[str, Any] | bytes) -> None:
        async with self._send_lock:
            if not self.is_open:
                return
            if isinstance(payload, bytes):
                await self.websocket.send_bytes(payload)
            else:
                await self.websocket.send_text(json.dumps(payload))

    async def send_error(
        self, code: ErrorCode | str, message: str, turn_id: str | None = None, *, retry_after: int | None = None
    ) -> None:
        error: dict[str, Any] = {"type": "error", "code": str(code), "message": message}
        error["request_id"] = current_request_id()
        if turn_id:
            error["id"] = turn_id
        if retry_after is not None:
            error["retry_after"] = retry_after
        await self.send(error)

    async def close(self, code: int, reason: str) -> None:
        async with self._send_lock:
            if self.is_open:
                log.info("websocket_closed_by_server", code=code, reason=reason)
                await self.websocket.close(code, reason)

    async def rate_limited(self, turn_id: str) -> bool:
        """Count a turn against the client's chat limit, like a REST chat request; True (and said) when over it."""
        limited = await self.rate_limiter.hit_turn(self.websocket.scope) if self.rate_limiter is not None else None
        if limited is None:
            return False
        retry_after, message = limited
        await self.send_error(ErrorCode.RATE_LIMITED, message, turn_id, retry_after=retry_after)
        return True
