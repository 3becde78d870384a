"""`/ws/voice`, the project's own voice protocol (docs/voice-socket.md), over the shared voice conversation
(`sessions.voice_core`): binary PCM frames and small JSON messages in, the conversation's notices out as JSON
events and binary audio frames."""

import json
from typing import Any

from fastapi import WebSocket
from pydantic import ValidationError
from starlette.types import Message

from council.auth import Caller
from council.errors import ErrorCode
from council.sessions.socket import CLOSE_TOO_BIG, SocketSession
from council.sessions.voice_core import VoiceConversation, VoiceServices
from council.sessions.voice_messages import (
    CLIENT_MESSAGE,
    MESSAGE_TYPES,
    CancelAnswer,
    CommitTurn,
    Ping,
    SessionConfig,
)
from council.sessions.voice_notices import (
    AudioEnded,
    AudioHeld,
    AudioResumed,
    AudioStarted,
    BargeIn,
    Failure,
    Heard,
    Notice,
    Ready,
    SpeechBegan,
    SpeechEnded,
    TurnCancelled,
    TurnEnded,
    TurnEvent,
    Words,
)
from council.voice.answer import OUTPUT_RATE

INPUT_RATE = 16_000  # the socket's contract: 16 kHz mono s16le in
OUTPUT_FORMAT = {"sample_rate": OUTPUT_RATE, "format": "s16le", "channels": 1}


class VoiceSession(SocketSession):
    """One `/ws/voice` client: its frames feed a `VoiceConversation`, whose notices go back as this protocol's events."""

    def __init__(
        self,
        websocket: WebSocket,
        services: VoiceServices,
        caller: Caller,
    ) -> None:
        super().__init__(websocket, caller, services.rate_limiter)
        self.max_frame_bytes = services.settings.voice_ws.max_frame_bytes
        self.config = SessionConfig(type="config")
        self.conversation = VoiceConversation(
            self, services, caller=caller, input_rate=INPUT_RATE, scope=websocket.scope
        )

    async def serve(self) -> None:
        await self.conversation.serve(self.receive_loop)

    async def receive(self) -> Message:
        return await self.websocket.receive()

    async def receive_loop(self) -> None:
        async for frame in self.conversation.messages():
            if frame.get("bytes") is not None:
                pcm: bytes = frame["bytes"]
                if len(pcm) > self.max_frame_bytes:
                    await self.close(CLOSE_TOO_BIG, f"frame over {self.max_frame_bytes} bytes")
                    return
                self.conversation.idle.active()
                if not await self.conversation.hear(pcm):
                    return
            else:
                await self.handle_text(frame["text"])

    async def handle_text(self, text: str) -> None:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError:
            await self.send_error(ErrorCode.INVALID_JSON, "The frame is not valid JSON.")
            return
        kind = raw.get("type") if isinstance(raw, dict) else None
        if kind not in MESSAGE_TYPES:
            await self.send_error(
                ErrorCode.INVALID_REQUEST,
                "Text frames are ping, cancel, commit or config; audio goes in binary frames.",
            )
            return
        try:
            message = CLIENT_MESSAGE.validate_python(raw)
        except ValidationError as exc:
            await self.send_error(ErrorCode.INVALID_REQUEST, f"Invalid {kind}: {exc.errors()[0]['msg']}.")
            return
        if not isinstance(message, Ping):  # a ping only proves the socket is up: it keeps no session alive
            self.conversation.idle.active()
        match message:
            case Ping():
                await self.send({"type": "pong"})
            case CancelAnswer():
                await self.conversation.cancel_turn()
            case CommitTurn():
                self.conversation.commit()
            case SessionConfig():
                await self.configure(message)

    async def configure(self, config: SessionConfig) -> None:
        conversation = self.conversation
        if config.turn_detection is not None:
            await conversation.detect_turns(config.turn_detection)
        self.config = config
        options = conversation.options
        options.thread_id, options.path, options.speak = config.thread_id, config.path, config.speak
        await self.send({"type": "config", **config.model_dump(exclude={"type"}), "turn_detection": conversation.turn_detection})  # fmt: skip

    async def notify(self, notice: Notice | bytes) -> None:
        if isinstance(notice, bytes):
            await self.send(notice)
        elif isinstance(notice, Failure):
            await self.send_error(notice.code, notice.message, notice.turn_id, retry_after=notice.retry_after)
        elif (event := _event(notice)) is not None:
            await self.send(event)


def _event(notice: Notice) -> dict[str, Any] | None:
    """The notice as this protocol's JSON event (None: it has none)."""
    match notice:
        case Ready():
            input_format = {"sample_rate": notice.input_rate, "format": "s16le", "channels": 1}
            return {"type": "ready", "input": input_format, "turn_detection": notice.turn_detection}
        case SpeechBegan():
            return {"type": "speech.started"}
        case Words():
            return {"type": "transcript.delta", "delta": notice.delta}
        case SpeechEnded():
            return {"type": "speech.stopped", "seconds": notice.seconds, "reason": notice.reason}
        case Heard():
            return {"type": "transcript", "id": notice.turn_id, "text": notice.text, "preemptive": notice.preemptive}
        case TurnEvent():
            return {**notice.event.model_dump(mode="json"), "id": notice.turn_id}
        case AudioStarted():
            start = {"type": "audio.start", "id": notice.turn_id, "kind": notice.kind, "voice": notice.voice,
                     "output": OUTPUT_FORMAT}  # fmt: skip
            return start | ({"text": notice.text} if notice.text else {})
        case AudioEnded():
            return {"type": "audio.end", "id": notice.turn_id, "kind": notice.kind}
        case AudioHeld():
            return {"type": "audio.paused", "id": notice.turn_id}
        case AudioResumed():
            return {"type": "audio.resumed", "id": notice.turn_id, "reason": notice.reason, "text": notice.text}
        case BargeIn():
            return {"type": "barge_in", "id": notice.turn_id}
        case TurnCancelled():
            return {"type": "cancelled", "id": notice.turn_id}
        case TurnEnded() | Failure():
            return None
