"""Client events of the realtime sockets: parsed and type-checked, and any failure while handling one answered
with an `error` event, so a malformed or unlucky event never ends the session."""

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import structlog
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from voice.errors import ErrorCode, InvalidRequest, VoiceError

log = structlog.get_logger(__name__)

SendEvent = Callable[..., Awaitable[None]]
# The client has gone (or the socket is closed): nothing to answer, the session ends.
SOCKET_GONE = (WebSocketDisconnect, WebSocketDisconnected)


async def receive_frame(
    socket: WebSocket, *, max_bytes: int, idle_timeout_s: float, busy: Callable[[], bool] = lambda: False
) -> Message | None:
    """The client's next frame; None once the session is over: the client left, sent nothing for `idle_timeout_s`
    while the session had nothing of its own to do (while `busy`, the wait starts anew), closed 1000 `idle
    timeout`; or sent a frame over `max_bytes` (closed 1009; `python -m voice` gives uvicorn the same limit, so there
    such a frame is refused from its header, before it is buffered: this check guards other servers).

    Only client events count: OpenAI's realtime protocol has no ping event, and WebSocket pings are answered by
    uvicorn without reaching the session."""
    while True:
        with anyio.move_on_after(idle_timeout_s) as idle:
            message = await socket.receive()
        if not idle.cancelled_caught:
            break
        if not busy():
            log.info("realtime_idle_closed", idle_timeout_s=idle_timeout_s)
            await socket.close(code=1000, reason="idle timeout")
            return None
    if message["type"] == "websocket.disconnect":
        return None
    size = len(message.get("bytes") or b"") + len((message.get("text") or "").encode())
    if size > max_bytes:
        log.info("realtime_frame_too_big", bytes=size, limit=max_bytes)
        await socket.close(code=1009, reason=f"frame over {max_bytes} bytes (VOICE_REALTIME__MAX_FRAME_BYTES)")
        return None
    return message


def parse_event(text: str | None) -> dict[str, Any]:
    """A client event: a JSON object in a text frame."""
    if text is None:
        raise InvalidRequest("Bad event: events are JSON objects in text frames.")
    try:
        event = json.loads(text)
    except ValueError as error:
        raise InvalidRequest(f"Bad event: {error}") from error
    if not isinstance(event, dict):
        raise InvalidRequest(f"Bad event: expected a JSON object, got {type(event).__name__}.")
    return event


def object_field(event: dict[str, Any], name: str) -> dict[str, Any]:
    """An optional object member (absent or null: empty)."""
    value = event.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"Bad event: {name} must be a JSON object, got {type(value).__name__}.")
    return value


def string_field(event: dict[str, Any], name: str, default: str = "") -> str:
    value = event.get(name, default)
    if not isinstance(value, str):
        raise InvalidRequest(f"Bad event: {name} must be a string, got {type(value).__name__}.")
    return value


def error_body(error: VoiceError) -> dict[str, str]:
    return {"type": error.code.value, "code": error.code.value, "message": error.message}


@asynccontextmanager
async def answering_errors(send: SendEvent, **context: object) -> AsyncIterator[None]:
    """Turn a failure while handling one event into an `error` event; the session carries on."""
    try:
        yield
    except VoiceError as error:
        await send("error", error=error_body(error))
    except SOCKET_GONE:
        raise
    except Exception:  # one event's bug must not end the session (the close code would be 1011)
        log.exception("realtime_event_failed", **context)
        await send(
            "error",
            error={
                "type": ErrorCode.INTERNAL_ERROR.value,
                "code": ErrorCode.INTERNAL_ERROR.value,
                "message": "An unexpected error occurred while handling the event; the session is still open.",
            },
        )
