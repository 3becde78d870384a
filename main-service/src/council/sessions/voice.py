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
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from council.auth import Caller
from council.errors import CouncilError, ErrorCode
from council.ids import new_thread_id
from council.observability.correlation import current_request_id
from council.observability.metrics import Metrics
from council.orchestrator import CHAIR, Admitted, Orchestrator
from council.orchestrator.events import FinalEvent, RouteEvent, SynthesisDeltaEvent
from council.orchestrator.preemption import Confirmation
from council.ratelimit import RateLimiter
from council.sessions.socket import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_TRY_LATER,
    SocketSession,
)
from council.sessions.voice_messages import (
    CLIENT_MESSAGE,
    MESSAGE_TYPES,
    CancelAnswer,
    CommitTurn,
    Ping,
    SessionConfig,
)
from council.settings import Settings
from council.voice import VoiceClient
from council.voice.answer import OUTPUT_RATE, AnswerVoice, Utterance
from council.voice.clips import SpokenClips
from council.voice.overlap import classify, words
from council.voice.playback import Playback
from council.voice.realtime import (
    Listener,
    Paused,
    Resumed,
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


class Commit:
    """In the audio queue: the client ended its turn here (`commit`)."""


COMMIT = Commit()


@dataclass
class Preemptive:
    """An answer started from a pause's transcript before the turn is confirmed: it runs, synthesis included, but its
    events wait in `held` and its audio in the paused playback until the turn ends with the same words."""

    turn_id: str
    text: str
    confirmation: Confirmation = field(default_factory=Confirmation)
    task: "asyncio.Task[None] | None" = None
    held: list[dict[str, Any]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # orders the held events' release with new ones


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
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(websocket, caller, rate_limiter)
        self.metrics = metrics
        self.orchestrator = orchestrator
        self.voice = voice
        self.settings = settings
        self.clips = clips
        self.limits = settings.voice_ws
        # Audio received and not yet forwarded, bounded in bytes (frames may be 20 ms or a whole second each); a
        # `COMMIT` in it ends the turn after the audio before it.
        self.audio: asyncio.Queue[bytes | Commit] = asyncio.Queue()
        self.committed = False  # the last thing queued was a commit: another, with nothing said between, is dropped
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
        self.preemptive: Preemptive | None = None  # an answer to a pause's words, not yet confirmed

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
                await self.discard_preemptive()
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
                self.committed = False
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
        match message:
            case Ping():
                await self.send({"type": "pong"})
            case CancelAnswer():
                await self.cancel_turn()
            case CommitTurn() if not self.committed:  # each commit costs the voice service a transcript
                self.audio.put_nowait(COMMIT)
                self.committed = True
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
                if isinstance(pcm, Commit):
                    await self.listener.commit()
                    continue
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
        elif isinstance(heard, Paused):
            await self.preempt(heard.text)
        elif isinstance(heard, Resumed):
            await self.discard_preemptive()
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
        preemptive = self.preemptive
        if preemptive is not None and preemptive.text == text:
            await self.confirm(preemptive)
            return
        await self.discard_preemptive()
        self.turn_id = uuid.uuid4().hex
        await self.send({"type": "transcript", "id": self.turn_id, "text": text, "preemptive": False})
        if text and not await self.rate_limited(self.turn_id):
            self.turn = asyncio.create_task(self.respond(self.turn_id, text), name="voice-turn")

    # -- answering before the turn is confirmed ---------------------------------------------------------------

    async def preempt(self, text: str) -> None:
        """A pause's words, the turn still undecided: start answering them now, unheard (the playback is held) and
        unstored (`Confirmation`), unless an answer is running or the words lead to an agent (which spends)."""
        if not self.limits.preemptive or not text or self.answering or self.overlap is not None:
            return
        if self.preemptive is not None and self.preemptive.text == text:
            return
        await self.discard_preemptive()
        try:
            admitted = await self.orchestrator.admit(text, self.config.path, caller=self.caller)
        except CouncilError:
            return  # the confirmed turn will say why
        if admitted.route.path == "kip":
            return
        self.playback.pause()
        preemptive = self.preemptive = Preemptive(uuid.uuid4().hex, text)
        preemptive.task = asyncio.create_task(
            self.respond(preemptive.turn_id, text, admitted, preemptive.confirmation), name="voice-preemptive-turn"
        )

    async def confirm(self, preemptive: Preemptive) -> None:
        """The turn ended with the words the preemptive answer answers: it becomes the turn, and what it has
        written and synthesized so far goes out at once, in order."""
        self.turn_id = preemptive.turn_id
        await self.send({"type": "transcript", "id": preemptive.turn_id, "text": preemptive.text, "preemptive": True})
        if await self.rate_limited(preemptive.turn_id):
            await self.discard_preemptive()
            return
        async with preemptive.lock:
            for event in preemptive.held:
                await self.send(event)
            preemptive.held.clear()
            preemptive.confirmation.confirm()
        self.preemptive, self.turn = None, preemptive.task
        self.playback.resume()
        self._count_preemptive("used")

    async def discard_preemptive(self) -> None:
        """The turn did not end with the preemptive answer's words (or the session ends): nothing of it was heard
        or kept, and nothing will be."""
        preemptive, self.preemptive = self.preemptive, None
        if preemptive is None:
            return
        preemptive.confirmation.discard()
        if preemptive.task is not None:
            preemptive.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await preemptive.task
        if self.answers is not None:
            await self.answers.cancel(preemptive.turn_id)
        self.playback.resume()
        self._count_preemptive("wasted")

    def _count_preemptive(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.voice_preemptive_answers.labels(outcome).inc()
        log.info("voice_preemptive_answer", outcome=outcome)

    async def send_turn_event(self, turn_id: str, event: dict[str, Any]) -> None:
        """A turn's event to the client, or held back while the turn is a preemptive answer not yet confirmed."""
        preemptive = self.preemptive
        if preemptive is None or preemptive.turn_id != turn_id:
            await self.send(event)
            return
        async with preemptive.lock:
            if preemptive.confirmation.decided:
                await self.send(event)
            else:
                preemptive.held.append(event)

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

    async def respond(
        self, turn_id: str, text: str, admitted: Admitted | None = None, confirmation: Confirmation | None = None
    ) -> None:
        """Answer `text`; a preemptive answer (`confirmation`) reports a failure only once it is confirmed."""
        with structlog.contextvars.bound_contextvars(turn_id=turn_id):
            try:
                await self.deliberate(turn_id, text, admitted, confirmation)
            except CouncilError as exc:
                if confirmation is None or await confirmation.confirmed():
                    await self.send_error(exc.code, exc.message, turn_id)
            except WebSocketDisconnect:
                log.info("voice_turn_abandoned_by_client")
            except Exception:  # say so, keep the socket
                log.exception("voice_turn_failed")
                if confirmation is None or await confirmation.confirmed():
                    await self.send_error(ErrorCode.INTERNAL_ERROR, "The voice turn failed unexpectedly.", turn_id)

    async def deliberate(
        self, turn_id: str, text: str, admitted: Admitted | None, confirmation: Confirmation | None
    ) -> None:
        thread_id = self.config.thread_id or new_thread_id()
        voice = self.answers if self.config.speak else None
        answer: Utterance | None = None
        spoken = ""  # the answer text handed to speech so far
        if admitted is None:
            admitted = await self.orchestrator.admit(text, self.config.path, caller=self.caller)
        stream = self.orchestrator.stream(
            text, thread_id=thread_id, spoken=True, caller=self.caller, admitted=admitted, confirmation=confirmation
        )
        async for event in stream:
            await self.send_turn_event(turn_id, {**event.model_dump(mode="json"), "id": turn_id})
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
