"""A `/ws/voice` session: talk to the council in real time. Protocol: docs/voice-socket.md.

Each session bridges to the voice service over two live sockets (`council.voice.realtime`): the user's audio goes
to a listening socket (speech onset, semantic end of turn, partial and final transcripts), and the answer's text
goes to a speaking socket as the orchestrator writes it (`AnswerVoice`), so speech starts with the first sentence.
Answer audio reaches the client at the pace it is played (`Playback`), so speaking over it stops it at once: a
backchannel or a noise lets it go on, a real interruption cancels generation and speech and becomes the next turn.
"""

import asyncio
import contextlib
import json
import uuid

import structlog
from fastapi import WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from council.auth import Caller
from council.errors import CouncilError, ErrorCode
from council.ids import new_thread_id
from council.observability.correlation import current_request_id
from council.orchestrator import CHAIR, Orchestrator
from council.orchestrator.events import FinalEvent, RouteEvent, SynthesisDeltaEvent
from council.ratelimit import RateLimiter
from council.sessions.socket import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_TRY_LATER,
    SocketSession,
)
from council.sessions.voice_messages import CLIENT_MESSAGE, MESSAGE_TYPES, CancelAnswer, Ping, SessionConfig
from council.settings import Settings
from council.voice import VoiceClient
from council.voice.answer import OUTPUT_RATE, AnswerVoice, Utterance
from council.voice.clips import SpokenClips
from council.voice.overlap import classify, words
from council.voice.playback import Playback
from council.voice.realtime import (
    Listener,
    SocketGone,
    Speaker,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    TranscriptDelta,
    VoiceServiceError,
)
from council.voice.speech import role_voices

log = structlog.get_logger(__name__)

INPUT_RATE = 16_000  # the socket's contract: 16 kHz mono s16le in


class VoiceSession(SocketSession):
    """One conversation by voice: the client's socket, the voice service's two sockets, and the running answer."""

    def __init__(
        self,
        websocket: WebSocket,
        orchestrator: Orchestrator,
        voice: VoiceClient,
        settings: Settings,
        caller: Caller,
        clips: SpokenClips,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__(websocket, caller, rate_limiter)
        self.orchestrator = orchestrator
        self.voice = voice
        self.settings = settings
        self.clips = clips
        self.limits = settings.voice_ws
        # Audio received and not yet forwarded, bounded in bytes (frames may be 20 ms or a whole second each).
        self.audio: asyncio.Queue[bytes] = asyncio.Queue()
        self.backlog_bytes = 0
        self.max_backlog_bytes = int(self.limits.max_backlog_s * INPUT_RATE * 2)
        self.config = SessionConfig(type="config")
        self.backchannels = frozenset(w for phrase in self.limits.backchannels for w in words(phrase))
        self.playback = Playback(self.send, sample_rate=OUTPUT_RATE, lead_s=self.limits.playback_lead_s)
        self.listener: Listener | None = None
        self.speaker: Speaker | None = None
        self.answers: AnswerVoice | None = None  # speaks the answers, once the speaking socket is open
        self.voices: dict[str, str] = {}
        self.turn: asyncio.Task[None] | None = None
        self.turn_id: str | None = None
        self.overlap: str | None = None  # words heard so far over a running answer (None: no overlap)

    # -- session lifecycle -------------------------------------------------------------------------------------

    async def serve(self) -> None:
        try:
            self.voices = await role_voices(self.voice)  # also proves the voice service answers
            self.listener = await Listener.open(self.voice, INPUT_RATE)
            await self.listener.configure(self.limits.turn_detection, self.limits.silence_s)
            self.speaker = await Speaker.open(self.voice)
        except (CouncilError, SocketGone) as exc:
            await self.send_error(*_described(exc))
            await self.close(CLOSE_TRY_LATER, "voice service unavailable")
            await self.close_voice()
            return
        self.answers = AnswerVoice(
            self.speaker,
            self.playback,
            voices=self.voices,
            default_voice=self.settings.voice.speech_voice,
            report=self.send_error,
            breaker=self.voice.breaker,
            clips=self.clips,
        )
        await self.send({"type": "ready", "input": {"sample_rate": INPUT_RATE, "format": "s16le", "channels": 1},
                         "turn_detection": self.limits.turn_detection})  # fmt: skip
        tasks = [
            asyncio.create_task(self.forward_audio(), name="voice-forward"),
            asyncio.create_task(self.listen(), name="voice-listen"),
            asyncio.create_task(self.answers.run(), name="voice-speak"),
            asyncio.create_task(self.playback.run(), name="voice-playback"),
        ]
        if acknowledgement := self.limits.acknowledgement.strip():  # made now, so the first council turn has it
            tasks.append(asyncio.create_task(self.answers.keep_ready(CHAIR, acknowledgement), name="voice-ack"))
        try:
            await self.receive_loop()
        finally:
            try:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await self.close_voice()  # before the turn ends: the voice service's session slots are free at once
                await self.cancel_turn(announce=False)
            finally:  # if the server cancels this session (shutdown), the sockets must not outlive it
                for socket in self.voice_sockets():
                    socket.abort()

    def voice_sockets(self) -> list[Listener | Speaker]:
        return [socket for socket in (self.listener, self.speaker) if socket is not None]

    async def close_voice(self) -> None:
        if self.answers is not None:
            self.answers.stop()  # a turn still ending must not count the closed socket as a failure
        for socket in self.voice_sockets():
            with contextlib.suppress(Exception):
                await socket.aclose()

    async def receive_loop(self) -> None:
        while True:
            try:
                frame = await asyncio.wait_for(self.websocket.receive(), timeout=self.limits.idle_timeout_s)
            except TimeoutError:
                if self.answering:
                    continue  # the client is listening to an answer
                await self.close(CLOSE_NORMAL, "idle timeout")
                return
            if frame["type"] == "websocket.disconnect" or not self.is_open:  # the client left, or we closed
                return
            if frame.get("bytes") is not None:
                pcm: bytes = frame["bytes"]
                if len(pcm) > self.limits.max_frame_bytes:
                    await self.close(CLOSE_TOO_BIG, f"frame over {self.limits.max_frame_bytes} bytes")
                    return
                pcm = pcm[: len(pcm) - len(pcm) % 2]  # whole samples only
                if self.backlog_bytes + len(pcm) > self.max_backlog_bytes:
                    await self.close(CLOSE_POLICY, "audio arrives faster than real time; slow down")
                    return
                self.backlog_bytes += len(pcm)
                self.audio.put_nowait(pcm)
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
                ErrorCode.INVALID_REQUEST, "Text frames are ping, cancel or config; audio goes in binary frames."
            )
            return
        try:
            message = CLIENT_MESSAGE.validate_python(raw)
        except ValidationError as exc:
            await self.send_error(ErrorCode.INVALID_REQUEST, f"Invalid {kind}: {exc.errors()[0]['msg']}.")
            return
        match message:
            case Ping():
                await self.send({"type": "pong"})
            case CancelAnswer():
                await self.cancel_turn()
            case SessionConfig():
                await self.configure(message)

    async def configure(self, config: SessionConfig) -> None:
        if config.turn_detection is not None and self.listener is not None:
            with contextlib.suppress(SocketGone):  # the listener reports the loss itself
                await self.listener.configure(config.turn_detection, self.limits.silence_s)
        self.config = config
        effective = config.turn_detection or self.limits.turn_detection
        await self.send({"type": "config", **config.model_dump(exclude={"type"}), "turn_detection": effective})

    # -- listening ---------------------------------------------------------------------------------------------

    async def forward_audio(self) -> None:
        assert self.listener is not None
        with contextlib.suppress(SocketGone):  # `listen` reports the loss
            while True:
                pcm = await self.audio.get()
                self.backlog_bytes -= len(pcm)
                await self.listener.send_audio(pcm)

    async def listen(self) -> None:
        """Act on what the voice service hears; losing it is said, the running answer's text goes on, then close."""
        assert self.listener is not None
        try:
            async for heard in self.listener.heard():
                await self.on_heard(heard)
        except SocketGone as exc:
            self.voice.breaker.record_failure(str(exc))
            await self.voice_lost(str(exc))
        except Exception:  # a failure of our own: without this the socket would go deaf without a word
            log.exception("voice_listener_failed", request_id=current_request_id())
            await self.cancel_turn()
            await self.send_error(ErrorCode.INTERNAL_ERROR, "Listening failed unexpectedly; reconnect to go on.")
            await self.close(CLOSE_INTERNAL_ERROR, "internal error")

    async def voice_lost(self, detail: str) -> None:
        if self.answers is not None and self.answers.speaker is not None:  # else speaking said it: one error
            self.answers.stop()
            await self.send_error(
                ErrorCode.VOICE_UNAVAILABLE,
                f"The voice service went away ({detail}); the answer's text goes on, then reconnect to talk again.",
                self.turn_id if self.answering else None,
            )
        if self.turn is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.turn
        await self.close(CLOSE_TRY_LATER, "voice service unavailable")

    @property
    def answering(self) -> bool:
        return self.turn is not None and not self.turn.done()

    async def on_heard(self, heard: object) -> None:
        if isinstance(heard, SpeechStarted):
            await self.send({"type": "speech.started"})
            if self.answering:
                self.overlap = ""
                self.playback.pause()
                if self.answers is not None and self.answers.audible:
                    await self.send({"type": "audio.paused", "id": self.turn_id})
        elif isinstance(heard, TranscriptDelta):
            await self.send({"type": "transcript.delta", "delta": heard.text})
            if self.overlap is not None:
                self.overlap += heard.text
                if self.answering and classify(self.overlap, self.backchannels) == "interruption":
                    self.overlap = None  # decided: the final transcript is the next turn, whatever it says
                    await self.interrupt()
        elif isinstance(heard, SpeechStopped):
            await self.send({"type": "speech.stopped", "seconds": heard.seconds, "reason": heard.reason})
        elif isinstance(heard, Transcript):
            await self.on_transcript(heard.text)
        elif isinstance(heard, VoiceServiceError):
            await self.send_error(ErrorCode.VOICE_FAILED, f"The voice service reported: {heard.message}")

    async def on_transcript(self, text: str) -> None:
        overlap, self.overlap = self.overlap, None
        if overlap is not None:  # the utterance began while an answer was running
            meaning = classify(text, self.backchannels)
            if meaning != "interruption":
                self.playback.resume()
                await self.send({"type": "audio.resumed", "id": self.turn_id, "reason": meaning, "text": text})
                return
            await self.interrupt()
        await self.cancel_turn()
        self.turn_id = uuid.uuid4().hex
        await self.send({"type": "transcript", "id": self.turn_id, "text": text})
        if text and not await self.rate_limited(self.turn_id):
            self.turn = asyncio.create_task(self.respond(self.turn_id, text), name="voice-turn")

    async def interrupt(self) -> None:
        if self.answering:
            await self.send({"type": "barge_in", "id": self.turn_id})
            await self.cancel_turn()
        self.playback.resume()  # nothing of the cancelled turn is left to hold

    async def cancel_turn(self, *, announce: bool = True) -> None:
        turn, turn_id = self.turn, self.turn_id
        if turn is None or turn.done():
            return
        turn.cancel()  # stops the model's generation; the speech is cancelled below
        with contextlib.suppress(asyncio.CancelledError):
            await turn
        if turn_id is not None and self.answers is not None:
            await self.answers.cancel(turn_id)
        if announce:
            await self.send({"type": "cancelled", "id": turn_id})

    # -- answering ---------------------------------------------------------------------------------------------

    async def respond(self, turn_id: str, text: str) -> None:
        with structlog.contextvars.bound_contextvars(turn_id=turn_id):
            try:
                await self.deliberate(turn_id, text)
            except CouncilError as exc:
                await self.send_error(exc.code, exc.message, turn_id)
            except WebSocketDisconnect:
                log.info("voice_turn_abandoned_by_client")
            except Exception:  # say so, keep the socket
                log.exception("voice_turn_failed")
                await self.send_error(ErrorCode.INTERNAL_ERROR, "The voice turn failed unexpectedly.", turn_id)

    async def deliberate(self, turn_id: str, text: str) -> None:
        thread_id = self.config.thread_id or new_thread_id()
        voice = self.answers if self.config.speak else None
        answer: Utterance | None = None
        spoken = ""  # the answer text handed to speech so far
        stream = self.orchestrator.stream(
            text, thread_id=thread_id, requested=self.config.path, spoken=True, caller=self.caller
        )
        async for event in stream:
            await self.send({**event.model_dump(mode="json"), "id": turn_id})
            if isinstance(event, FinalEvent):
                self.config = self.config.model_copy(update={"thread_id": event.thread_id or thread_id})
            if voice is None:
                continue
            if isinstance(event, RouteEvent) and event.path == "council" and not event.cached:
                await self.acknowledge(voice, turn_id)
            elif isinstance(event, SynthesisDeltaEvent):
                if answer is None:
                    answer = await voice.begin(turn_id, "answer", event.role)
                if answer is not None and await voice.say(event.text):
                    spoken += event.text
            elif isinstance(event, FinalEvent):
                if answer is None and event.answer:  # an answer nobody streamed: speak it whole
                    answer = await voice.begin(turn_id, "answer", CHAIR)
                if answer is not None:
                    await voice.say(_unspoken(event.answer, spoken))
        if voice is not None and answer is not None and await voice.finish():
            await answer.played.wait()

    async def acknowledge(self, voice: AnswerVoice, turn_id: str) -> None:
        """A short spoken sentence in the chair's voice while the members deliberate, marked as such."""
        if text := self.limits.acknowledgement.strip():
            await voice.say_phrase(turn_id, "acknowledgement", CHAIR, text)


def _unspoken(answer: str, spoken: str) -> str:
    """What of the final answer was not streamed to speech (normally nothing: the deltas make the answer)."""
    whole, said = answer.strip(), spoken.strip()
    if whole.startswith(said):
        return whole[len(said) :]
    log.warning("voice_answer_differs_from_its_deltas", spoken_chars=len(said), answer_chars=len(whole))
    return ""


def _described(exc: CouncilError | SocketGone) -> tuple[ErrorCode | str, str]:
    if isinstance(exc, CouncilError):
        return exc.code, exc.message
    return ErrorCode.VOICE_UNAVAILABLE, f"The voice service went away: {exc}."
