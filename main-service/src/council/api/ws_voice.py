"""`WS /ws/voice`: live PCM in, endpointing and transcription by the voice service, the council's answer as
events and as streamed speech out; speaking over the answer (barge-in) cancels it. Protocol: docs/voice-socket.md.
"""

import asyncio
import contextlib
import json
import uuid
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from council.api.deps import MetricsDep, OrchestratorDep, SettingsDep, VoiceDep
from council.errors import CouncilError, ErrorCode
from council.observability.correlation import current_request_id
from council.orchestrator import Orchestrator
from council.orchestrator.events import FinalEvent, RouteEvent
from council.orchestrator.smart_router import RequestedPath
from council.settings import Settings
from council.voice import VoiceClient
from council.voice.endpointing import Endpointer, EndpointerConfig, Signal, SpeechEnded, SpeechStarted
from council.voice.speech import detect_speech, role_voices, synthesize, transcribe

log = structlog.get_logger(__name__)

router = APIRouter(tags=["websocket"])

INPUT_RATE = 16_000  # the socket's contract: 16 kHz mono s16le in
OUTPUT_RATE = 24_000  # OpenAI `pcm`: 24 kHz mono s16le out
CLOSE_UNSUPPORTED_DATA, CLOSE_POLICY, CLOSE_TOO_BIG = 1003, 1008, 1009
CLOSE_INTERNAL_ERROR, CLOSE_TRY_LATER = 1011, 1013
CHAIR_ROLE = "chair"


class SessionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(pattern="^config$")
    thread_id: str | None = Field(None, pattern=r"^[A-Za-z0-9._:\-]{1,128}$")
    path: RequestedPath = "auto"
    speak: bool = Field(True, description="Send the answer as speech too (binary frames).")
    language: str | None = Field(None, max_length=16)


class VoiceSession:
    def __init__(
        self, websocket: WebSocket, orchestrator: Orchestrator, voice: VoiceClient, settings: Settings
    ) -> None:
        self.websocket = websocket
        self.orchestrator = orchestrator
        self.voice = voice
        self.settings = settings
        limits = settings.voice_ws
        config = EndpointerConfig(INPUT_RATE, limits.check_every_s, limits.silence_s, 0.3, limits.max_utterance_s)
        self.endpointer = Endpointer(lambda pcm: detect_speech(voice, pcm, INPUT_RATE), config)
        backlog_frames = max(1, int(limits.max_backlog_s * INPUT_RATE * 2 / 640))  # counted in 20 ms frames
        self.audio: asyncio.Queue[bytes] = asyncio.Queue(maxsize=backlog_frames)
        self.config = SessionConfig(type="config")
        self.turn: asyncio.Task[None] | None = None
        self.turn_id: str | None = None
        self.voices: dict[str, str] = {}
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

    async def send_error(self, code: ErrorCode | str, message: str) -> None:
        await self.send({"type": "error", "code": str(code), "message": message, "request_id": current_request_id()})

    async def close(self, code: int, reason: str) -> None:
        async with self._send_lock:
            if self.is_open:
                log.info("websocket_closed_by_server", code=code, reason=reason)
                await self.websocket.close(code, reason)

    async def serve(self) -> None:
        try:
            self.voices = await role_voices(self.voice)  # also proves the voice service answers
        except CouncilError as exc:
            await self.send_error(exc.code, exc.message)
            await self.close(CLOSE_TRY_LATER, "voice service unavailable")
            return
        await self.send({"type": "ready", "input": {"sample_rate": INPUT_RATE, "format": "s16le", "channels": 1}})
        listener = asyncio.create_task(self.listen(), name="voice-endpointing")
        try:
            await self.receive_loop()
        finally:
            listener.cancel()
            await self.cancel_turn()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def receive_loop(self) -> None:
        while True:
            frame = await self.websocket.receive()
            if frame["type"] == "websocket.disconnect" or not self.is_open:  # the client left, or we closed
                return
            if frame.get("bytes") is not None:
                pcm: bytes = frame["bytes"]
                if len(pcm) > self.settings.voice_ws.max_frame_bytes:
                    await self.close(CLOSE_TOO_BIG, f"frame over {self.settings.voice_ws.max_frame_bytes} bytes")
                    return
                try:
                    self.audio.put_nowait(pcm[: len(pcm) - len(pcm) % 2])  # whole samples only
                except asyncio.QueueFull:
                    await self.close(CLOSE_POLICY, "audio arrives faster than real time; slow down")
                    return
            else:
                await self.handle_text(frame["text"])

    async def handle_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            await self.send_error(ErrorCode.INVALID_JSON, "The frame is not valid JSON.")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "cancel":
            await self.cancel_turn()
        elif kind == "config":
            try:
                self.config = SessionConfig.model_validate(message)
            except ValidationError as exc:
                await self.send_error(ErrorCode.INVALID_REQUEST, f"Invalid config: {exc.errors()[0]['msg']}.")
                return
            await self.send({"type": "config", **self.config.model_dump(exclude={"type"})})
        else:
            await self.send_error(
                ErrorCode.INVALID_REQUEST, "Text frames are ping, cancel or config; audio goes in binary frames."
            )

    async def listen(self) -> None:
        """Endpoint the queued audio and start a turn per utterance; a failure of our own ends the socket, loudly."""
        try:
            while True:
                pcm = await self.audio.get()
                try:
                    signals = await self.endpointer.feed(pcm)
                except CouncilError as exc:  # the voice service failed: said, and the next audio tries again
                    await self.send_error(exc.code, exc.message)
                    continue
                await self.act_on(signals)
        except Exception:  # e.g. an unexpected VAD answer: without this the socket would go deaf without a word
            log.exception("voice_listener_failed", request_id=current_request_id())
            await self.cancel_turn()
            await self.send_error(ErrorCode.INTERNAL_ERROR, "Listening failed unexpectedly; reconnect to go on.")
            await self.close(CLOSE_INTERNAL_ERROR, "internal error")

    async def act_on(self, signals: list[Signal]) -> None:
        for signal in signals:
            if isinstance(signal, SpeechStarted):
                await self.send({"type": "speech.started"})
                if self.turn is not None and not self.turn.done():
                    await self.send({"type": "barge_in", "id": self.turn_id})
                    await self.cancel_turn()
            elif isinstance(signal, SpeechEnded):
                await self.send({"type": "speech.stopped", "seconds": round(signal.seconds, 3)})
                await self.cancel_turn()
                self.turn_id = uuid.uuid4().hex
                self.turn = asyncio.create_task(self.respond(self.turn_id, signal.pcm), name="voice-turn")

    async def cancel_turn(self) -> None:
        turn, turn_id = self.turn, self.turn_id
        if turn is None or turn.done():
            return
        turn.cancel()  # stops transcription, the model's generation and the speech stream alike
        with contextlib.suppress(asyncio.CancelledError):
            await turn
        await self.send({"type": "cancelled", "id": turn_id})

    async def respond(self, turn_id: str, pcm: bytes) -> None:
        with structlog.contextvars.bound_contextvars(turn_id=turn_id):
            try:
                text = await transcribe(self.voice, pcm, INPUT_RATE, self.config.language)
                await self.send({"type": "transcript", "id": turn_id, "text": text})
                if not text:
                    return
                final, role = await self.deliberate(turn_id, text)
                if final is not None and final.answer and self.config.speak:
                    await self.speak(turn_id, final.answer, role)
            except CouncilError as exc:
                await self.send({"type": "error", "id": turn_id, "code": exc.code.value, "message": exc.message,
                                 "request_id": current_request_id()})  # fmt: skip
            except WebSocketDisconnect:
                log.info("voice_turn_abandoned_by_client")
            except Exception:  # e.g. the voice service vanishing mid-stream: say so, keep the socket
                log.exception("voice_turn_failed")
                await self.send({"type": "error", "id": turn_id, "code": ErrorCode.INTERNAL_ERROR.value,
                                 "message": "The voice turn failed unexpectedly.", "request_id": current_request_id()})  # fmt: skip

    async def deliberate(self, turn_id: str, text: str) -> tuple[FinalEvent | None, str]:
        final, role = None, CHAIR_ROLE
        thread_id = self.config.thread_id or uuid.uuid4().hex
        async for event in self.orchestrator.stream(text, thread_id=thread_id, requested=self.config.path):
            await self.send({**event.model_dump(mode="json"), "id": turn_id})
            if isinstance(event, RouteEvent) and event.role:
                role = event.role
            if isinstance(event, FinalEvent):
                final = event
                self.config = self.config.model_copy(update={"thread_id": event.thread_id or thread_id})
        return final, role

    async def speak(self, turn_id: str, answer: str, role: str) -> None:
        voice_id = self.voices.get(role, self.settings.voice.speech_voice)
        await self.send({"type": "audio.start", "id": turn_id, "voice": voice_id,
                         "output": {"sample_rate": OUTPUT_RATE, "format": "s16le", "channels": 1}})  # fmt: skip
        async for chunk in synthesize(self.voice, answer, voice_id):
            await self.send(chunk)
        await self.send({"type": "audio.end", "id": turn_id})


@router.websocket("/ws/voice")
async def voice_socket(
    websocket: WebSocket, orchestrator: OrchestratorDep, voice: VoiceDep, settings: SettingsDep, metrics: MetricsDep
) -> None:
    await websocket.accept()
    metrics.websocket_sessions.labels("voice").inc()
    log.info("websocket_opened", endpoint="/ws/voice")
    try:
        await VoiceSession(websocket, orchestrator, voice, settings).serve()
    finally:
        metrics.websocket_sessions.labels("voice").dec()
        log.info("websocket_ended", endpoint="/ws/voice")
