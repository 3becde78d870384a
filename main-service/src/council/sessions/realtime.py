"""`/v1/realtime`, OpenAI's Realtime protocol (docs/realtime.md), over the shared voice conversation
(`sessions.voice_core`): the client's JSON events drive the conversation, its notices go back as Realtime server
events (`sessions.realtime_protocol`). Whatever the council does not support is answered with an `error` event."""

import base64
import binascii
import json
from typing import Any

import structlog
from fastapi import WebSocket
from starlette.types import Message

from council.auth import Caller
from council.errors import ErrorCode
from council.observability.correlation import current_request_id
from council.orchestrator.smart_router import RequestedPath
from council.sessions.realtime_protocol import RealtimeProtocol
from council.sessions.realtime_session_config import RATE, RealtimeConfig, Refused, updated
from council.sessions.socket import SocketSession
from council.sessions.voice_core import VoiceConversation, VoiceServices
from council.sessions.voice_notices import Notice

log = structlog.get_logger(__name__)

# Events a Realtime client may send that the council does not serve: answered with an error naming them.
UNSUPPORTED = {
    "conversation.item.retrieve": "Items are not kept for retrieval here.",
    "conversation.item.delete": "The council's memory keeps every turn; delete the conversation over REST.",
    "output_audio_buffer.clear": "output_audio_buffer.clear is for WebRTC and SIP; over WebSocket, response.cancel.",
    "transcription_session.update": "Transcription sessions are the voice service's `/v1/realtime`.",
}


class RealtimeSession(SocketSession):
    """One `/v1/realtime` client (`model`: council, fast, auto or a role, as `/v1/chat/completions` takes it)."""

    def __init__(
        self,
        websocket: WebSocket,
        services: VoiceServices,
        caller: Caller,
        model: tuple[str, RequestedPath, str | None],
    ) -> None:
        super().__init__(websocket, caller, services.rate_limiter)
        name, path, role = model
        settings = services.settings
        # One append may hold as much audio as one /ws/voice frame (in seconds).
        self.max_append_bytes = settings.voice_ws.max_frame_bytes * RATE // 16_000
        self.conversation = VoiceConversation(self, services, caller=caller, input_rate=RATE, scope=websocket.scope)
        self.conversation.options.path, self.conversation.options.role = path, role
        limits = settings.voice_ws
        detection = (
            {"type": "semantic_vad"}
            if limits.turn_detection == "semantic"
            else {"type": "server_vad", "silence_duration_ms": round(limits.silence_s * 1000)}
        )
        config = RealtimeConfig(name, settings.voice.speech_voice, turn_detection=detection)
        self.protocol = RealtimeProtocol(config, current_request_id())

    async def serve(self) -> None:
        await self.apply(self.protocol.config, first=True)
        await self.conversation.serve(self.receive_loop)

    async def receive(self) -> Message:
        return await self.websocket.receive()

    async def notify(self, notice: Notice | bytes) -> None:
        for event in self.protocol.encode(notice):
            await self.send(event)

    async def refuse(self, message: str, code: str, param: str | None = None, event_id: str | None = None) -> None:
        log.info("realtime_event_refused", code=code, param=param, reason=message)
        await self.send(self.protocol.error(message, code, param, event_id))

    async def receive_loop(self) -> None:
        async for frame in self.conversation.messages():
            if frame.get("text") is None:
                await self.refuse("Realtime events are JSON text frames; audio goes in input_audio_buffer.append.",
                                  ErrorCode.INVALID_REQUEST)  # fmt: skip
                continue
            try:
                event = json.loads(frame["text"])
            except json.JSONDecodeError:
                await self.refuse("The frame is not valid JSON.", ErrorCode.INVALID_JSON)
                continue
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                await self.refuse("An event is a JSON object with a string `type`.", ErrorCode.INVALID_REQUEST, "type")
                continue
            self.conversation.idle.active()
            if not await self.handle(event):
                return

    async def handle(self, event: dict[str, Any]) -> bool:
        """Act on one client event; False when the socket is closed by it."""
        kind, event_id = event["type"], event.get("event_id")
        event_id = event_id if isinstance(event_id, str) else None
        conversation, protocol = self.conversation, self.protocol
        if kind == "input_audio_buffer.append":
            pcm = _pcm(event.get("audio"))
            if pcm is None:
                await self.refuse("audio: base64 of pcm16 mono 24 kHz.", ErrorCode.INVALID_REQUEST, "audio", event_id)
            elif len(pcm) > self.max_append_bytes:
                message = f"One append holds at most {self.max_append_bytes} bytes of audio; send smaller chunks."
                await self.refuse(message, ErrorCode.INVALID_REQUEST, "audio", event_id)
            else:
                protocol.audio_in_bytes += len(pcm)
                return await conversation.hear(pcm)
        elif kind == "input_audio_buffer.commit":
            conversation.commit()
        elif kind == "input_audio_buffer.clear":
            conversation.clear()
            protocol.user_item = None
            await self.send(protocol.event("input_audio_buffer.cleared"))
        elif kind == "session.update":
            await self.update_session(event.get("session"), event_id)
        elif kind == "conversation.item.create":
            await self.create_item(event.get("item"), event_id)
        elif kind == "response.create":
            await self.create_response(event.get("response"), event_id)
        elif kind == "response.cancel":
            if not await conversation.cancel_turn():
                await self.refuse("No response is in progress.", "response_cancel_not_active", None, event_id)
        elif kind == "conversation.item.truncate":
            await self.truncate(event, event_id)
        elif kind in UNSUPPORTED:
            await self.refuse(UNSUPPORTED[kind], "unsupported_event", "type", event_id)
        else:
            await self.refuse(f"Unknown or unsupported event type {kind!r}.", "unsupported_event", "type", event_id)
        return True

    async def update_session(self, session: object, event_id: str | None) -> None:
        try:
            config, ignored = updated(self.protocol.config, session, self.conversation.voices.ids)
        except Refused as exc:
            await self.refuse(f"session.update refused, nothing changed: {exc}", ErrorCode.INVALID_REQUEST, exc.param, event_id)  # fmt: skip
            return
        await self.apply(config)
        await self.send(self.protocol.session("session.updated"))
        if ignored:
            message = f"Not supported, left out (the rest of the update applies): {', '.join(ignored)}."
            await self.refuse(message, "unsupported_field", ignored[0], event_id)

    async def apply(self, config: RealtimeConfig, *, first: bool = False) -> None:
        """Make `config` the session's; the voice service hears of a new turn detection only when it changed."""
        previous, self.protocol.config = self.protocol.config, config
        conversation, options = self.conversation, self.conversation.options
        options.speak, options.respond = config.modality == "audio", config.respond
        if config.thread_id != previous.thread_id:  # else the thread the socket's turns continue stays
            options.thread_id = config.thread_id
        conversation.use_voice(config.voice)
        if first or (config.detection, config.silence_s) != (previous.detection, previous.silence_s):
            await conversation.detect_turns(config.detection, config.silence_s)

    async def create_item(self, item: object, event_id: str | None) -> None:
        text = _user_text(item)
        if text is None:
            message = "Only user messages of input_text are taken (audio goes in input_audio_buffer.append)."
            await self.refuse(message, ErrorCode.INVALID_REQUEST, "item", event_id)
            return
        for event in self.protocol.text_item(text):
            await self.send(event)

    async def create_response(self, response: object, event_id: str | None) -> None:
        options = response if isinstance(response, dict) else {}
        unsupported = sorted(
            k for k, v in options.items() if v is not None and k not in ("output_modalities", "metadata")
        )
        if unsupported:
            message = f"response.create takes no {', '.join(unsupported)} here: the council answers the conversation."
            await self.refuse(message, ErrorCode.INVALID_REQUEST, f"response.{unsupported[0]}", event_id)
            return
        if self.protocol.running() is not None or self.conversation.answering:
            await self.refuse("A response is in progress; cancel it first.", "conversation_already_has_active_response",
                              None, event_id)  # fmt: skip
            return
        text = self.protocol.take_pending()
        if not text.strip():
            message = "Nothing to answer: add a user message (conversation.item.create) or commit audio first."
            await self.refuse(message, ErrorCode.INVALID_REQUEST, None, event_id)
            return
        await self.conversation.answer(text)

    async def truncate(self, event: dict[str, Any], event_id: str | None) -> None:
        item_id, end_ms = event.get("item_id"), event.get("audio_end_ms")
        response = self.protocol.by_item.get(item_id) if isinstance(item_id, str) else None
        if response is None or not isinstance(end_ms, int) or end_ms < 0 or event.get("content_index", 0) != 0:
            message = "conversation.item.truncate: item_id of an assistant item of this session, content_index 0."
            await self.refuse(message, ErrorCode.INVALID_REQUEST, "item_id", event_id)
            return
        if end_ms > response.audio_ms:
            message = f"audio_end_ms {end_ms} is past the item's audio ({response.audio_ms} ms sent)."
            await self.refuse(message, ErrorCode.INVALID_REQUEST, "audio_end_ms", event_id)
            return
        truncated = {"item_id": response.item_id, "content_index": 0, "audio_end_ms": end_ms}
        await self.send(self.protocol.event("conversation.item.truncated", **truncated))
        if not response.done:  # the client stopped playing it: the rest is not to be said
            await self.conversation.cancel_turn()


def _pcm(audio: object) -> bytes | None:
    if not isinstance(audio, str):
        return None
    try:
        return base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        return None


def _user_text(item: object) -> str | None:
    """The text of a user message item of `input_text` parts, or None for any other item."""
    if not isinstance(item, dict) or item.get("type") != "message" or item.get("role") != "user":
        return None
    content = item.get("content")
    if not isinstance(content, list) or not content:
        return None
    texts = [part.get("text") for part in content if isinstance(part, dict) and part.get("type") == "input_text"]
    if len(texts) != len(content) or not all(isinstance(text, str) for text in texts):
        return None
    return "\n".join(str(text) for text in texts)
