"""A `/ws/chat` session: one socket, many concurrent turns, the orchestrator's typed events tagged with the turn's id."""

import asyncio
import contextlib
import json

import structlog
from fastapi import WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from council.auth import Caller
from council.errors import CouncilError, ErrorCode
from council.orchestrator import Admitted, Orchestrator
from council.ratelimit import RateLimiter, client_key
from council.sessions.chat_messages import CLIENT_MESSAGE, CancelTurn, Ping, SendMessage
from council.sessions.socket import CLOSE_NORMAL, CLOSE_TOO_BIG, CLOSE_UNSUPPORTED_DATA, SocketSession
from council.settings import WebSocketSettings

log = structlog.get_logger(__name__)


class ChatSession(SocketSession):
    """The state of one socket: its running turns."""

    def __init__(
        self,
        websocket: WebSocket,
        orchestrator: Orchestrator,
        settings: WebSocketSettings,
        caller: Caller,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__(websocket, caller, rate_limiter)
        self.orchestrator = orchestrator
        self.settings = settings
        self.turns: dict[str, asyncio.Task[None]] = {}

    async def serve(self) -> None:
        while True:
            try:
                frame = await asyncio.wait_for(self.websocket.receive(), timeout=self.settings.idle_timeout_s)
            except TimeoutError:
                if self.turns:
                    continue  # quiet, but a turn is still streaming
                await self.close(CLOSE_NORMAL, "idle timeout")
                return
            if frame["type"] == "websocket.disconnect":
                return
            if frame.get("text") is None:
                await self.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not accepted on /ws/chat; send JSON text")
                return
            text: str = frame["text"]
            if len(text.encode()) > self.settings.max_message_bytes:
                await self.close(CLOSE_TOO_BIG, f"frame over {self.settings.max_message_bytes} bytes")
                return
            await self.handle(text)

    async def handle(self, text: str) -> None:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError:
            await self.send_error(ErrorCode.INVALID_JSON, "The frame is not valid JSON.")
            return
        try:
            message = CLIENT_MESSAGE.validate_python(raw)
        except ValidationError as exc:
            turn_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            await self.send_error(ErrorCode.INVALID_REQUEST, f"Invalid message ({details}).", turn_id)
            return
        match message:
            case Ping():
                await self.send({"type": "pong", "id": message.id} if message.id else {"type": "pong"})
            case CancelTurn():
                await self.cancel(message.id)
            case SendMessage():
                await self.start_turn(message)

    async def start_turn(self, message: SendMessage) -> None:
        if await self.rate_limited(message.id):
            return
        if message.id in self.turns:
            await self.send_error(ErrorCode.CONFLICT, f"A turn with id {message.id!r} is already running.", message.id)
            return
        if len(self.turns) >= self.settings.max_inflight_turns:
            limit = self.settings.max_inflight_turns
            reason = f"{limit} turns are already running on this socket (COUNCIL_WS__MAX_INFLIGHT_TURNS); wait or cancel one."
            await self.send_error(ErrorCode.TOO_MANY_TURNS, reason, message.id)
            return
        try:
            admitted = await self.orchestrator.admit(
                message.text,
                message.path,
                members=message.members,
                caller=self.caller,
                client=client_key(self.websocket.scope),
                thread_id=message.thread_id,
                review_round=message.review_round,
                ranking=message.ranking,
            )
        except CouncilError as exc:
            retry_after = exc.headers.get("Retry-After")
            await self.send_error(
                exc.code, exc.message, message.id, retry_after=int(retry_after) if retry_after else None
            )
            return
        task = asyncio.create_task(self.run_turn(message, admitted), name=f"ws-turn-{message.id}")
        self.turns[message.id] = task
        task.add_done_callback(lambda _: self.turns.pop(message.id, None))

    async def run_turn(self, message: SendMessage, admitted: Admitted) -> None:
        with structlog.contextvars.bound_contextvars(turn_id=message.id, thread_id=admitted.thread_id):
            try:
                async for event in self.orchestrator.stream(admitted):
                    await self.send({**event.model_dump(mode="json"), "id": message.id})
            except WebSocketDisconnect:
                log.info("turn_abandoned_by_client")  # closing the stream above stopped the generation

    async def cancel(self, turn_id: str) -> None:
        task = self.turns.get(turn_id)
        if task is None:
            await self.send_error(ErrorCode.NOT_FOUND, f"No running turn with id {turn_id!r}.", turn_id)
            return
        task.cancel()  # closes the orchestrator's stream, which stops the model's generation
        with contextlib.suppress(asyncio.CancelledError):
            await task
        log.info("turn_cancelled", turn_id=turn_id)
        await self.send({"type": "cancelled", "id": turn_id})

    async def stop(self) -> None:
        for task in list(self.turns.values()):
            task.cancel()
        await asyncio.gather(*self.turns.values(), return_exceptions=True)
