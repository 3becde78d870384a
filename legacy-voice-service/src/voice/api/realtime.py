"""`WS /v1/realtime`: a transcription session in the shape of OpenAI's Realtime API.

Client -> server: `input_audio_buffer.append` (base64 pcm16 mono at 24 kHz, or `?sample_rate=16000` etc.; or
binary frames of the same),
`input_audio_buffer.commit`, `input_audio_buffer.clear`, `session.update` (beta: `transcription_session.update`).
Server -> client: `session.created`, `input_audio_buffer.speech_started` / `speech_stopped` (Silero VAD
endpointing), `conversation.item.input_audio_transcription.delta` (partial: the words that have become stable
while someone speaks; then the rest once the utterance ends), `input_audio_buffer.committed`, `.completed` (with word
timestamps), `error`. With `?intent=speech` the socket streams synthesis instead
(`speech_session`).
"""

import base64
import binascii
import math
import uuid
from typing import Any

import anyio
import anyio.abc
import numpy as np
import structlog
from fastapi import APIRouter, WebSocket

from voice.api.deps import check_service_token
from voice.api.realtime_events import (
    SOCKET_GONE,
    answering_errors,
    error_body,
    object_field,
    parse_event,
    string_field,
)
from voice.api.speech_session import SpeechSession
from voice.audio import Samples, decode_pcm16
from voice.engines.base import TranscriptionOptions
from voice.engines.registry import EngineRegistry
from voice.errors import InvalidRequest, TooManySessions, VoiceError, error_response
from voice.settings import Settings

log = structlog.get_logger(__name__)
router = APIRouter(tags=["realtime"])

INPUT_RATE = 24_000  # OpenAI Realtime's pcm16
WORK_RATE = 16_000  # Whisper's and Silero's
VAD_STEP_S = 0.25  # how much new audio triggers another look for the end of speech
PRE_ROLL_S = 1.0  # audio kept before the newest step while no one speaks
ALIASES = {"transcription_session.update": "session.update"}


def _to_work_rate(samples: Samples, input_rate: int) -> Samples:
    if samples.size == 0 or input_rate == WORK_RATE:
        return samples
    positions = np.arange(0, samples.size, input_rate / WORK_RATE)
    resampled: Samples = np.interp(positions, np.arange(samples.size), samples).astype(np.float32)
    return resampled


class StableWords:
    """Local agreement over successive hypotheses of one growing utterance: only the words two consecutive ones
    agree on, as a common prefix, count as stable; what has been sent is never taken back, so deltas only append."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._previous: list[str] | None = None

    def agree(self, hypothesis: str) -> str:
        """The delta that the newly stable words make ("" when none are new, or they contradict what was sent)."""
        words, previous = hypothesis.split(), self._previous
        self._previous = words
        if previous is None:
            return ""
        agreed = 0
        while agreed < min(len(words), len(previous)) and words[agreed] == previous[agreed]:
            agreed += 1
        if words[: len(self.sent)] != self.sent:
            return ""
        return self._extend(words[len(self.sent) : agreed])

    def finish(self, transcript: str) -> str:
        """The final transcript is authoritative: the delta it adds to what was sent ("" if it starts otherwise)."""
        words = transcript.split()
        if words[: len(self.sent)] != self.sent:
            return ""
        return self._extend(words[len(self.sent) :])

    def _extend(self, words: list[str]) -> str:
        if not words:
            return ""
        delta = (" " if self.sent else "") + " ".join(words)
        self.sent += words
        return delta


class TranscriptionSession:
    def __init__(self, socket: WebSocket, engines: EngineRegistry, settings: Settings, input_rate: int) -> None:
        self.socket = socket
        self.input_rate = input_rate
        self.engines = engines
        self.settings = settings
        self.buffer = np.zeros(0, dtype=np.float32)  # at WORK_RATE, since the last commit
        self.offset_s = 0.0  # where `buffer` starts in the session's audio
        self.checked_s = 0.0
        self.speaking = False
        self.item_id = self._new_item()
        self.server_vad = True
        self.stable = StableWords()  # of the current item
        self.partial_at = -math.inf  # when the last partial started (anyio clock)
        self.partial_done: anyio.Event | None = None  # set when the partial in flight has finished
        self.tasks: anyio.abc.TaskGroup | None = None

    @staticmethod
    def _new_item() -> str:
        return f"item_{uuid.uuid4().hex[:20]}"

    async def send(self, event_type: str, **fields: Any) -> None:
        await self.socket.send_json({"event_id": f"event_{uuid.uuid4().hex[:20]}", "type": event_type, **fields})

    async def run(self) -> None:
        await self.send(
            "session.created",
            session={
                "type": "transcription",
                "input_audio_format": "pcm16",
                "input_sample_rate": self.input_rate,
                "turn_detection": {"type": "server_vad"},
            },
        )
        async with anyio.create_task_group() as self.tasks:  # partials run beside the loop that reads the socket
            while True:
                message = await self.socket.receive()
                if message["type"] == "websocket.disconnect":
                    self.tasks.cancel_scope.cancel()
                    return
                async with answering_errors(self.send, session="transcription"):
                    if message.get("bytes") is not None:
                        await self.append(decode_pcm16(message["bytes"]))
                    else:
                        await self.handle(parse_event(message.get("text")))

    async def handle(self, event: dict[str, Any]) -> None:
        kind = ALIASES.get(str(event.get("type")), str(event.get("type")))
        if kind == "input_audio_buffer.append":
            try:
                audio = base64.b64decode(string_field(event, "audio"), validate=True)
            except binascii.Error as error:
                raise InvalidRequest(f"Bad event: audio is not base64 ({error}).") from error
            await self.append(decode_pcm16(audio))
        elif kind == "input_audio_buffer.commit":
            await self.commit(len(self.buffer))
        elif kind == "input_audio_buffer.clear":
            self._drop(len(self.buffer))
            await self.send("input_audio_buffer.cleared")
        elif kind == "session.update":
            detection = object_field(event, "session").get("turn_detection", {"type": "server_vad"})
            if detection is not None and not isinstance(detection, dict):
                raise InvalidRequest("Bad event: session.turn_detection must be a JSON object or null.")
            self.server_vad = detection is not None
            await self.send("session.updated", session={"turn_detection": detection})
        else:
            raise InvalidRequest(f"Bad event: unknown event type {kind!r}.")

    async def append(self, samples: Samples) -> None:
        self.buffer = np.concatenate([self.buffer, _to_work_rate(samples, self.input_rate)])
        if self.buffer.size / WORK_RATE > self.settings.limits.max_audio_seconds:
            await self.commit(len(self.buffer))  # never let one utterance outgrow the duration limit
        elif self.server_vad and self.buffer.size / WORK_RATE - self.checked_s >= VAD_STEP_S:
            await self.endpoint()

    async def endpoint(self) -> None:
        vad = self.engines.vad
        if vad is None:
            return
        engine = vad.require_ready()
        audio = self.buffer
        self.checked_s = audio.size / WORK_RATE
        async with vad.job(session="realtime") as job:
            job.audio_seconds = audio.size / WORK_RATE
            spans = await job.call(lambda: engine.detect(audio))
        if not spans:
            if not self.speaking:
                # Silence: keep only a pre-roll (where speech that is starting right now may already be), so the
                # buffer and each look at it stay small however long the silence lasts.
                self._forget(audio.size - int(self._pre_roll_s() * WORK_RATE))
            return
        if not self.speaking:
            self.speaking = True
            start_ms = round((self.offset_s + spans[0].start) * 1000)
            await self.send("input_audio_buffer.speech_started", audio_start_ms=start_ms, item_id=self.item_id)
        silence_after = audio.size / WORK_RATE - spans[-1].end
        if silence_after * 1000 >= self.settings.vad.min_silence_ms:
            end_ms = round((self.offset_s + spans[-1].end) * 1000)
            await self.settle_partial()  # its delta, if any, comes before the end of the utterance
            await self.send("input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=self.item_id)
            await self.commit(int(spans[-1].end * WORK_RATE))
        else:
            self.start_partial()

    def start_partial(self) -> None:
        """Re-transcribe the utterance so far in the background, if one is due, none is in flight and it is short."""
        limits = self.settings.realtime
        now = anyio.current_time()
        if (
            limits.partial_interval_s <= 0
            or self.tasks is None
            or self.partial_done is not None
            or now - self.partial_at < limits.partial_interval_s
            or self.buffer.size / WORK_RATE > limits.partial_max_utterance_s
        ):
            return
        self.partial_at = now
        self.partial_done = anyio.Event()
        self.tasks.start_soon(self.partial, self.buffer, self.item_id, self.partial_done)

    async def partial(self, audio: Samples, item_id: str, done: anyio.Event) -> None:
        try:
            transcript = await self._transcribe_if_idle(audio)
            if transcript is not None and item_id == self.item_id:  # else the item was cleared meanwhile
                delta = self.stable.agree(transcript)
                if delta:
                    await self.send(
                        "conversation.item.input_audio_transcription.delta",
                        item_id=item_id,
                        content_index=0,
                        delta=delta,
                    )
        finally:
            self.partial_done = None
            done.set()

    async def _transcribe_if_idle(self, audio: Samples) -> str | None:
        """A partial's text, or None: partials are best effort and take only an idle slot of the STT engine, so they
        never queue in front of a final or an upload, nor get a 429 themselves."""
        try:
            loaded = self.engines.transcriber("whisper-1")
            engine = loaded.require_ready()
            queue = loaded.queue
            # No await between this look and taking the slot in `job()`, so the slot is still free then.
            if queue.running + queue.waiting >= self.settings.limits.max_concurrent_jobs:
                log.debug("realtime_partial_skipped", reason="stt queue busy")
                return None
            async with loaded.job(session="realtime", partial=True) as job:
                job.audio_seconds = audio.size / WORK_RATE
                transcript = await job.call(lambda: engine.transcribe(audio, TranscriptionOptions()))
        except Exception:  # a failed partial must not end the session (this task shares its task group)
            log.warning("realtime_partial_failed", exc_info=True)
            return None
        return transcript.text

    async def settle_partial(self) -> None:
        if self.partial_done is not None:
            await self.partial_done.wait()

    async def commit(self, end: int) -> None:
        await self.settle_partial()  # it holds the STT slot the final needs; a partial is short, so wait for it
        audio, item_id, stable = self.buffer[:end], self.item_id, self.stable
        offset = self.offset_s
        self._drop(end)
        await self.send("input_audio_buffer.committed", item_id=item_id, previous_item_id=None)
        loaded = self.engines.transcriber("whisper-1")
        engine = loaded.require_ready()
        options = TranscriptionOptions(word_timestamps=True)
        async with loaded.job(session="realtime") as job:
            job.audio_seconds = audio.size / WORK_RATE
            transcript = await job.call(lambda: engine.transcribe(audio, options))
        delta = stable.finish(transcript.text)
        if delta:
            await self.send(
                "conversation.item.input_audio_transcription.delta", item_id=item_id, content_index=0, delta=delta
            )
        words = [
            {"word": w.word, "start": round(offset + w.start, 3), "end": round(offset + w.end, 3)}
            for w in transcript.words
        ]
        await self.send(
            "conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=0,
            transcript=transcript.text,
            words=words,
        )

    def _pre_roll_s(self) -> float:
        # Room for Silero's padding and shortest speech before the new step, so an onset is never cut off.
        return max(PRE_ROLL_S, (self.settings.vad.speech_pad_ms + self.settings.vad.min_speech_ms) / 1000 + VAD_STEP_S)

    def _forget(self, end: int) -> None:
        """Drop the first `end` samples (no speech in them) without ending the current item."""
        if end <= 0:
            return
        self.buffer = self.buffer[end:]
        self.offset_s += end / WORK_RATE
        self.checked_s = max(0.0, self.checked_s - end / WORK_RATE)

    def _drop(self, end: int) -> None:
        self.buffer = self.buffer[end:]
        self.offset_s += end / WORK_RATE
        self.checked_s = 0.0
        self.speaking = False
        self.item_id = self._new_item()
        self.stable = StableWords()


async def _refuse(socket: WebSocket, error: VoiceError, close_code: int) -> None:
    """Refuse the handshake with an HTTP error in the one JSON shape, which clients see (a close before accept
    reaches them as a bare 403); a server without the denial-response extension gets the close code instead."""
    log.info("realtime_refused", code=error.code.value, status=error.status_code, reason=error.message)
    if "websocket.http.response" in socket.scope.get("extensions", {}):
        await socket.send_denial_response(error_response(error.status_code, error.code, error.message, error.headers))
    else:
        await socket.close(code=close_code, reason=error.message[:120])


@router.websocket("/v1/realtime")
async def realtime_session(socket: WebSocket) -> None:
    settings: Settings = socket.state.settings
    try:
        check_service_token(socket)
    except VoiceError as error:
        await _refuse(socket, error, close_code=1008)
        return
    slots: anyio.CapacityLimiter = socket.state.realtime_sessions
    try:
        slots.acquire_nowait()
    except anyio.WouldBlock:
        busy = TooManySessions(
            f"All {settings.limits.max_realtime_sessions} realtime sessions are in use "
            "(VOICE_LIMITS__MAX_REALTIME_SESSIONS); retry shortly.",
            headers={"Retry-After": str(settings.limits.retry_after_seconds)},
        )
        await _refuse(socket, busy, close_code=1013)
        return
    try:
        await socket.accept()
        if socket.query_params.get("intent") == "speech":
            try:
                session = SpeechSession(socket, socket.state.engines, settings, socket.query_params.get("voice"))
            except VoiceError as error:
                await socket.send_json({"type": "error", "error": error_body(error)})
                await socket.close(code=1008)
                return
            await session.run()
        else:
            rate = socket.query_params.get("sample_rate", str(INPUT_RATE))
            if rate not in ("8000", "16000", "24000", "48000"):
                await socket.send_json(
                    {
                        "type": "error",
                        "error": {"type": "invalid_request", "message": "sample_rate: 8000, 16000, 24000 or 48000"},
                    }
                )
                await socket.close(code=1008)
                return
            await TranscriptionSession(socket, socket.state.engines, settings, int(rate)).run()
    except* SOCKET_GONE:
        pass  # the client left; from the speech session's task group this arrives inside an ExceptionGroup
    finally:
        slots.release()
        log.info("realtime_session_closed")
