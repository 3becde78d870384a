"""OpenAI's Realtime protocol (GA event names and shapes) over a voice conversation's notices: the conversation's
items and responses, and every server event, built by a plain class with no socket (`sessions.realtime` sends
them). A council turn is one response with one assistant message item; its deliberation goes out as extension
events under `council.` (route, member.*, review, ranking.*, audio.*), which standard clients ignore."""

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from council.errors import ErrorCode
from council.orchestrator.events import ErrorEvent, FinalEvent, SynthesisDeltaEvent
from council.sessions.realtime_session_config import RATE, Modality, RealtimeConfig
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

ServerEvent = dict[str, Any]
BYTES_PER_MS = RATE * 2 // 1000
# OpenAI's `error.type` for the council's codes: the caller's mistakes, limits, and ours.
_CLIENT_ERRORS = {ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_JSON, ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def error_event(
    message: str, *, code: str, request_id: str | None, param: str | None = None, event_id: str | None = None
) -> ServerEvent:
    """OpenAI's `error` event; `request_id` (an extension) is the socket's `X-Request-ID`, as in every log line."""
    kind = "invalid_request_error" if code in _CLIENT_ERRORS or code.startswith("unsupported") else "server_error"
    if code == ErrorCode.RATE_LIMITED:
        kind = "rate_limit_error"
    error = {"type": kind, "code": code, "message": message, "param": param, "event_id": event_id}
    return {"type": "error", "event_id": new_id("event"), "error": error | {"request_id": request_id}}


@dataclass
class Response:
    """One council turn as a Realtime response: one assistant message item, its text or audio with transcript."""

    id: str
    item_id: str
    modality: Modality
    text: str = ""
    audio_bytes: int = 0
    calls: list[tuple[int, int]] = field(default_factory=list)  # (input, output) tokens per model call
    interrupted: bool = False  # a barge-in: cancelled because the user spoke (else the client cancelled)
    done: bool = False

    @property
    def audio_ms(self) -> int:
        return self.audio_bytes // BYTES_PER_MS

    def item(self, status: Literal["in_progress", "completed", "incomplete"]) -> dict[str, Any]:
        part: dict[str, Any] = (
            {"type": "output_audio", "transcript": self.text}
            if self.modality == "audio"
            else {"type": "output_text", "text": self.text}
        )
        content = [part] if status != "in_progress" else []
        return {"id": self.item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                "status": status, "content": content}  # fmt: skip

    def usage(self) -> dict[str, int]:
        input_tokens, output_tokens = sum(c[0] for c in self.calls), sum(c[1] for c in self.calls)
        return {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }


class RealtimeProtocol:
    """The conversation as the client sees it. `encode` turns each notice (and each frame of answer audio) into the
    server events to send, in order; the `*_item` methods answer the client's own items."""

    def __init__(self, config: RealtimeConfig, request_id: str | None) -> None:
        self.config = config
        self.request_id = request_id
        self.last_item_id: str | None = None
        self.user_item: str | None = None  # the utterance in progress
        self.pending: list[str] = []  # user words no response has answered yet (`create_response` off, typed items)
        self.responses: dict[str, Response] = {}  # by turn id
        self.by_item: dict[str, Response] = {}
        self.playing: Response | None = None  # whose audio the next frames are
        self.audio_in_bytes = 0  # appended so far: where in the input audio an event happens

    # -- what the server says ------------------------------------------------------------------------------------

    def event(self, kind: str, /, **fields: Any) -> ServerEvent:
        return {"type": kind, "event_id": new_id("event"), **fields}

    def error(self, message: str, code: str, param: str | None = None, event_id: str | None = None) -> ServerEvent:
        return error_event(message, code=code, request_id=self.request_id, param=param, event_id=event_id)

    def session(self, kind: Literal["session.created", "session.updated"]) -> ServerEvent:
        return self.event(kind, session=self.config.session())

    def encode(self, notice: Notice | bytes) -> list[ServerEvent]:
        match notice:
            case bytes():
                response = self.playing
                if response is None or response.done:
                    return []
                response.audio_bytes += len(notice)
                delta = base64.b64encode(notice).decode()
                return [self.event("response.output_audio.delta", **self._part(response), delta=delta)]
            case Ready():
                return [self.session("session.created")]
            case SpeechBegan():
                start_ms = notice.start_ms if notice.start_ms is not None else self.audio_in_bytes // BYTES_PER_MS
                item_id = self.user_item = self.user_item or new_id("item")
                return [self.event("input_audio_buffer.speech_started", audio_start_ms=start_ms, item_id=item_id)]
            case Words():
                if self.config.transcription is None or not notice.delta:
                    return []
                self.user_item = self.user_item or new_id("item")
                return [self.event("conversation.item.input_audio_transcription.delta", item_id=self.user_item,
                                   content_index=0, delta=notice.delta)]  # fmt: skip
            case SpeechEnded():
                end_ms = notice.end_ms if notice.end_ms is not None else self.audio_in_bytes // BYTES_PER_MS
                item_id = self.user_item = self.user_item or new_id("item")
                return [self.event("input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=item_id)]
            case Heard():
                return self._heard(notice)
            case TurnEvent():
                return self._turn_event(notice)
            case AudioStarted():
                events = self._opened(notice.turn_id)
                self.playing = self.responses[notice.turn_id]
                extension = {"kind": notice.kind, "voice": notice.voice, "text": notice.text}
                return [*events, self.event("council.audio.started", response_id=self.playing.id, **extension)]
            case AudioEnded():
                self.playing = None
                return []
            case AudioHeld() | AudioResumed():
                response = self.responses.get(notice.turn_id)
                fields = {"reason": notice.reason, "text": notice.text} if isinstance(notice, AudioResumed) else {}
                kind = "council.audio.held" if isinstance(notice, AudioHeld) else "council.audio.resumed"
                return [self.event(kind, response_id=response.id if response else None, **fields)]
            case BargeIn():
                if (response := self.responses.get(notice.turn_id)) is not None:
                    response.interrupted = True
                return []
            case TurnCancelled():
                return self._closed(notice.turn_id, "cancelled") if notice.turn_id else []
            case TurnEnded():
                events = self._opened(notice.turn_id)
                return events + self._closed(notice.turn_id, "failed" if notice.failed else "completed")
            case Failure():
                return [self.error(notice.message, str(notice.code))]

    # -- the user's side -----------------------------------------------------------------------------------------

    def _heard(self, heard: Heard) -> list[ServerEvent]:
        item_id, self.user_item = self.user_item or new_id("item"), None
        transcribed = self.config.transcription is not None
        content = {"type": "input_audio", "transcript": heard.text if transcribed else None}
        events = [self.event("input_audio_buffer.committed", item_id=item_id, previous_item_id=self.last_item_id)]
        events += self._user_item(item_id, content, heard.text, done=False)
        if transcribed:
            usage = {"type": "duration", "seconds": 0.0}  # no per-utterance count: the voice service bills nothing
            events.append(self.event("conversation.item.input_audio_transcription.completed", item_id=item_id,
                                     content_index=0, transcript=heard.text, usage=usage))  # fmt: skip
        events.append(self.event("conversation.item.done", item=self._message(item_id, "user", content)))
        if heard.turn_id is None and heard.text:
            self.pending.append(heard.text)  # answered at the client's `response.create`
        return events

    def text_item(self, text: str) -> list[ServerEvent]:
        """A user message the client typed (`conversation.item.create`): kept for the next `response.create`."""
        self.pending.append(text)
        item_id = new_id("item")
        return self._user_item(item_id, {"type": "input_text", "text": text}, text, done=True)

    def _user_item(self, item_id: str, content: dict[str, Any], text: str, *, done: bool) -> list[ServerEvent]:
        message = self._message(item_id, "user", content)
        events = [self.event("conversation.item.added", item=message, previous_item_id=self.last_item_id)]
        if done:
            events.append(self.event("conversation.item.done", item=message, previous_item_id=self.last_item_id))
        self.last_item_id = item_id
        return events

    @staticmethod
    def _message(item_id: str, role: str, content: dict[str, Any]) -> dict[str, Any]:
        return {"id": item_id, "object": "realtime.item", "type": "message", "role": role, "status": "completed",
                "content": [content]}  # fmt: skip

    def take_pending(self) -> str:
        """What the next response answers: the user's words since the last one, one message."""
        text, self.pending = "\n".join(self.pending), []
        return text

    # -- the council's side --------------------------------------------------------------------------------------

    def _part(self, response: Response) -> dict[str, Any]:
        return {"response_id": response.id, "item_id": response.item_id, "output_index": 0, "content_index": 0}

    def _opened(self, turn_id: str) -> list[ServerEvent]:
        """The turn's response, announced with its item and content part the first time the turn is heard of."""
        if turn_id in self.responses:
            return []
        response = self.responses[turn_id] = Response(new_id("resp"), new_id("item"), self.config.modality)
        self.by_item[response.item_id] = response
        body = self._response_body(response, "in_progress")
        item = response.item("in_progress")
        part = {"type": "audio", "transcript": ""} if response.modality == "audio" else {"type": "text", "text": ""}
        events = [
            self.event("response.created", response=body),
            self.event("response.output_item.added", response_id=response.id, output_index=0, item=item),
            self.event("conversation.item.added", item=item, previous_item_id=self.last_item_id),
            self.event("response.content_part.added", **self._part(response), part=part),
        ]
        self.last_item_id = response.item_id
        return events

    def _turn_event(self, notice: TurnEvent) -> list[ServerEvent]:
        events = self._opened(notice.turn_id)
        response, event = self.responses[notice.turn_id], notice.event
        if response.done:
            return events
        if isinstance(event, SynthesisDeltaEvent):
            response.text += event.text
            kind = (
                "response.output_audio_transcript.delta"
                if response.modality == "audio"
                else "response.output_text.delta"
            )
            events.append(self.event(kind, **self._part(response), delta=event.text))
        elif isinstance(event, FinalEvent):
            response.calls = [(call.input_tokens, call.output_tokens) for call in event.calls]
            if event.answer.strip() and not response.text.strip():  # an answer nobody streamed (e.g. cached)
                response.text = event.answer
            events.append(self.event("council.final", response_id=response.id, **_fields(event, "answer")))
        elif isinstance(event, ErrorEvent):
            events.append(self.error(event.message, event.code))
        else:  # the deliberation: route, member.*, review, ranking.*
            events.append(self.event(f"council.{event.type}", response_id=response.id, **_fields(event)))
        return events

    def _closed(self, turn_id: str, status: Literal["completed", "cancelled", "failed"]) -> list[ServerEvent]:
        response = self.responses.get(turn_id)
        if response is None or response.done:
            return []
        response.done = True
        if self.playing is response:
            self.playing = None
        events: list[ServerEvent] = []
        part = self._part(response)
        if status == "completed":
            if response.modality == "audio":
                events.append(self.event("response.output_audio.done", **part))
                events.append(self.event("response.output_audio_transcript.done", **part, transcript=response.text))
                done_part = {"type": "audio", "transcript": response.text}
            else:
                events.append(self.event("response.output_text.done", **part, text=response.text))
                done_part = {"type": "text", "text": response.text}
            events.append(self.event("response.content_part.done", **part, part=done_part))
        item = response.item("completed" if status == "completed" else "incomplete")
        events.append(self.event("response.output_item.done", response_id=response.id, output_index=0, item=item))
        events.append(self.event("conversation.item.done", item=item))
        events.append(self.event("response.done", response=self._response_body(response, status, item)))
        return events

    def _response_body(
        self, response: Response, status: Literal["in_progress", "completed", "cancelled", "failed"], *items: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": response.id,
            "object": "realtime.response",
            "status": status,
            "output": list(items),
            "output_modalities": [response.modality],
            "usage": response.usage(),
            "conversation_id": None,
        }
        if status == "cancelled":
            reason = "turn_detected" if response.interrupted else "client_cancelled"
            body["status_details"] = {"type": "cancelled", "reason": reason}
        elif status == "failed":
            body["status_details"] = {"type": "failed", "error": {"type": "server_error", "code": "turn_failed"}}
        return body

    def running(self) -> Response | None:
        return next((r for r in self.responses.values() if not r.done), None)


def _fields(event: Any, *leave_out: str) -> dict[str, Any]:
    """An orchestrator event's own fields, as the extension event's (its `type` is the extension's name)."""
    fields: dict[str, Any] = event.model_dump(mode="json", exclude={"type", *leave_out})
    return fields
