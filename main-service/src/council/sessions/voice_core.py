"""A conversation by voice with the council, whatever the client's protocol (`/ws/voice`, `/v1/realtime`).

It bridges to the voice service over two live sockets (`council.voice.realtime`): the user's audio goes to a
listening socket (speech onset, semantic end of turn, partial and final transcripts), and the answer's text goes
to a speaking socket as the orchestrator writes it (`AnswerVoice`), so speech starts with the first phrase. Answer
audio reaches the client at the pace it is played (`Playback`), so speaking over it stops it at once: a
backchannel or a noise lets it go on, a real interruption cancels generation and speech and becomes the next turn.
What happens is said to the protocol adapter as `Notice`s, which it encodes; it feeds the audio and commands in.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from starlette.types import Message, Scope
from starlette.websockets import WebSocketDisconnect

from council.auth import Caller
from council.errors import CouncilError, ErrorCode
from council.llm.end_of_turn import WordsEndOfTurn
from council.observability.correlation import current_request_id
from council.observability.metrics import Metrics
from council.orchestrator import CHAIR, Admitted, Orchestrator
from council.orchestrator.events import ErrorEvent, FinalEvent, RouteEvent, SynthesisDeltaEvent
from council.orchestrator.preemption import Confirmation
from council.orchestrator.smart_router import RequestedPath
from council.ratelimit import RateLimiter, client_key
from council.sessions.idle import IdleTimer
from council.sessions.socket import CLOSE_INTERNAL_ERROR, CLOSE_NORMAL, CLOSE_POLICY, CLOSE_TRY_LATER
from council.sessions.voice_notices import (
    AudioHeld,
    AudioResumed,
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
from council.settings import Settings
from council.voice import VoiceClient
from council.voice.answer import OUTPUT_RATE, AnswerVoice, Utterance, UtteranceNotice
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
    TurnDetection,
    VoiceServiceError,
)
from council.voice.speech import VoiceCatalog, voice_catalog

log = structlog.get_logger(__name__)


class Client(Protocol):
    """The protocol adapter's side of its client socket, as the conversation uses it."""

    @property
    def is_open(self) -> bool: ...

    async def receive(self) -> Message: ...

    async def notify(self, notice: Notice | bytes) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class Commit:
    """In the audio queue: the client ended its utterance here."""


class Clear:
    """In the audio queue: the client dropped the utterance in progress."""


@dataclass
class Preemptive:
    """An answer started from a pause's transcript before the turn is confirmed: it runs, synthesis included, but its
    notices wait in `held` and its audio in the paused playback until the turn ends with the same words."""

    turn_id: str
    text: str
    confirmation: Confirmation = field(default_factory=Confirmation)
    task: "asyncio.Task[None] | None" = None
    held: list[Notice] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # orders the held notices' release with new ones


@dataclass(frozen=True)
class VoiceServices:
    """What a voice session uses of the service, the same for every socket (the API builds it per connection)."""

    orchestrator: Orchestrator
    voice: VoiceClient
    settings: Settings
    clips: SpokenClips
    rate_limiter: RateLimiter | None = None
    metrics: Metrics | None = None
    words: WordsEndOfTurn | None = None  # reads each pause's words for the voice service's turn decision


@dataclass
class TurnOptions:
    """How the conversation's turns are answered; the protocol adapters set them from their clients' messages."""

    thread_id: str | None = None  # None: a new thread at the next turn, then kept for the ones after it
    path: RequestedPath = "auto"
    role: str | None = None  # a fast path answered by this role
    speak: bool = True  # the answer as speech too, not only as text
    respond: bool = True  # each utterance is answered when it ends; False: only `answer()` starts a turn


class VoiceConversation:
    """One conversation by voice: the voice service's two sockets, the turns, and what the client hears."""

    def __init__(
        self,
        client: Client,
        services: VoiceServices,
        *,
        caller: Caller,
        input_rate: int,
        scope: Scope,
    ) -> None:
        self.client = client
        self.orchestrator, self.voice, self.settings = services.orchestrator, services.voice, services.settings
        self.clips, self.rate_limiter, self.metrics = services.clips, services.rate_limiter, services.metrics
        self.words = services.words
        self.caller = caller  # as the handshake's key says: every turn of the socket is asked by them
        self.input_rate = input_rate
        self.scope = scope
        self.limits = services.settings.voice_ws
        self.options = TurnOptions()
        self.turn_detection: TurnDetection = self.limits.turn_detection
        self.silence_s = self.limits.silence_s  # the silence that ends a turn under `silence` detection
        self.voice_id: str | None = None  # the voice of the answers (None: the settings'); roles' own voices stay
        self.idle = IdleTimer(self.limits.idle_timeout_s)
        # Audio received and not yet forwarded, bounded in bytes (frames may be 20 ms or a whole second each); a
        # `Commit` in it ends the utterance after the audio before it.
        self.audio: asyncio.Queue[bytes | Commit | Clear] = asyncio.Queue()
        self.committed = False  # the last thing queued was a commit: another, with nothing said between, is dropped
        self.backlog_bytes = 0
        self.max_backlog_bytes = int(self.limits.max_backlog_s * input_rate * 2)
        self.backchannels = frozenset(w for phrase in self.limits.backchannels for w in words(phrase))
        self.playback = Playback[UtteranceNotice](
            self.client.notify, sample_rate=OUTPUT_RATE, lead_s=self.limits.playback_lead_s
        )
        self.listener: Listener | None = None
        self.speaker: Speaker | None = None
        self.answers: AnswerVoice | None = None  # speaks the answers, once the speaking socket is open
        self.voices = VoiceCatalog(frozenset(), {})
        self.turn: asyncio.Task[None] | None = None
        self.turn_id: str | None = None
        self.overlap: str | None = None  # words heard so far over a running answer (None: no overlap)
        self.preemptive: Preemptive | None = None  # an answer to a pause's words, not yet confirmed

    # -- lifecycle -----------------------------------------------------------------------------------------------

    async def serve(self, receive_messages: Callable[[], Awaitable[None]]) -> None:
        """Open the voice service's sockets, then run until `receive_messages` (the adapter's loop over
        `messages()`) returns; everything the conversation started is stopped when it does."""
        try:
            self.voices = await voice_catalog(self.voice)  # also proves the voice service answers
            self.listener = await Listener.open(self.voice, self.input_rate)
            await self.listener.configure(self.turn_detection, self.silence_s, read_words=self.words is not None)
            self.speaker = await Speaker.open(self.voice)
        except (CouncilError, SocketGone) as exc:
            await self.fail(*_described(exc))
            await self.client.close(CLOSE_TRY_LATER, "voice service unavailable")
            await self.close_voice()
            return
        self.answers = AnswerVoice(
            self.speaker,
            self.playback,
            voices=self.voices.by_role,
            default_voice=self.voice_id or self.settings.voice.speech_voice,
            report=self.fail,
            breaker=self.voice.breaker,
            clips=self.clips,
        )
        await self.client.notify(Ready(self.input_rate, self.turn_detection))
        tasks = [
            asyncio.create_task(self.forward_audio(), name="voice-forward"),
            asyncio.create_task(self.listen(), name="voice-listen"),
            asyncio.create_task(self.answers.run(), name="voice-speak"),
            asyncio.create_task(self.playback.run(), name="voice-playback"),
        ]
        if acknowledgement := self.limits.acknowledgement.strip():  # made now, so the first council turn has it
            tasks.append(asyncio.create_task(self.answers.keep_ready(CHAIR, acknowledgement), name="voice-ack"))
        try:
            await receive_messages()
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

    async def messages(self) -> AsyncIterator[Message]:
        """The client's frames until it leaves, the socket closes, or it has been idle too long (what counts as
        activity is the adapter's call: `idle.active()`; a playing answer counts)."""
        while True:
            try:
                message = await asyncio.wait_for(self.client.receive(), timeout=max(self.idle.left_s(), 0.01))
            except TimeoutError:
                if self.answering:
                    self.idle.active()  # the client is listening to an answer
                elif self.idle.left_s() <= 0:
                    await self.client.close(CLOSE_NORMAL, "idle timeout")
                    return
                continue
            if message["type"] == "websocket.disconnect" or not self.client.is_open:  # the client left, or we closed
                return
            yield message

    async def fail(
        self, code: ErrorCode | str, message: str, turn_id: str | None = None, retry_after: int | None = None
    ) -> None:
        await self.client.notify(Failure(code, message, turn_id, retry_after))

    # -- the client's input --------------------------------------------------------------------------------------

    async def hear(self, pcm: bytes) -> bool:
        """Queue audio (s16le mono at `input_rate`) for the voice service; False (and closed) when the client sends
        faster than real time."""
        pcm = pcm[: len(pcm) - len(pcm) % 2]  # whole samples only
        if self.backlog_bytes + len(pcm) > self.max_backlog_bytes:
            await self.client.close(CLOSE_POLICY, "audio arrives faster than real time; slow down")
            return False
        self.backlog_bytes += len(pcm)
        self.audio.put_nowait(pcm)
        self.committed = False
        return True

    def commit(self) -> None:
        """End the utterance now, with the audio sent before (its transcript follows); a commit right after another,
        with nothing said between, is dropped: each costs the voice service a transcript."""
        if not self.committed:
            self.audio.put_nowait(Commit())
            self.committed = True

    def clear(self) -> None:
        """Drop the utterance in progress (its audio sent, not committed)."""
        self.audio.put_nowait(Clear())

    async def detect_turns(self, detection: TurnDetection, silence_s: float | None = None) -> None:
        """How a turn ends from now on; `silence_s` (silence detection): the settings' when None."""
        self.turn_detection, self.silence_s = detection, silence_s or self.limits.silence_s
        if self.listener is not None:
            with contextlib.suppress(SocketGone):  # the listener reports the loss itself
                await self.listener.configure(detection, self.silence_s, read_words=self.words is not None)

    def use_voice(self, voice_id: str | None) -> None:
        """Speak the answers in this voice of the voice service (None: the settings' default)."""
        self.voice_id = voice_id
        if self.answers is not None:
            self.answers.default_voice = voice_id or self.settings.voice.speech_voice

    async def answer(self, text: str) -> str | None:
        """Start a turn answering `text` (a typed message, or what was heard when the client asks for answers
        itself), the running one cancelled; its id, or None when the rate limit refused it (said)."""
        await self.cancel_turn()
        await self.discard_preemptive()
        self.turn_id = turn_id = uuid.uuid4().hex
        if await self.rate_limited(turn_id):
            return None
        self.turn = asyncio.create_task(self.respond(turn_id, text), name="voice-turn")
        return turn_id

    # -- listening -----------------------------------------------------------------------------------------------

    async def forward_audio(self) -> None:
        assert self.listener is not None
        with contextlib.suppress(SocketGone):  # `listen` reports the loss
            while True:
                pcm = await self.audio.get()
                if isinstance(pcm, Commit):
                    await self.listener.commit()
                elif isinstance(pcm, Clear):
                    await self.listener.clear()
                else:
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
            await self.fail(ErrorCode.INTERNAL_ERROR, "Listening failed unexpectedly; reconnect to go on.")
            await self.client.close(CLOSE_INTERNAL_ERROR, "internal error")

    async def voice_lost(self, detail: str) -> None:
        if self.answers is not None and self.answers.speaker is not None:  # else speaking said it: one error
            self.answers.stop()
            await self.fail(
                ErrorCode.VOICE_UNAVAILABLE,
                f"The voice service went away ({detail}); the answer's text goes on, then reconnect to talk again.",
                self.turn_id if self.answering else None,
            )
        if self.turn is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.turn
        await self.client.close(CLOSE_TRY_LATER, "voice service unavailable")

    @property
    def answering(self) -> bool:
        return self.turn is not None and not self.turn.done()

    async def on_heard(self, heard: object) -> None:
        if isinstance(heard, SpeechStarted):
            await self.client.notify(SpeechBegan(heard.start_ms))
            if self.answering:
                self.overlap = ""
                self.playback.pause()
                if self.answers is not None and self.answers.audible and self.turn_id is not None:
                    await self.client.notify(AudioHeld(self.turn_id))
        elif isinstance(heard, TranscriptDelta):
            await self.client.notify(Words(heard.text))
            if self.overlap is not None:
                self.overlap += heard.text
                if self.answering and classify(self.overlap, self.backchannels) == "interruption":
                    self.overlap = None  # decided: the final transcript is the next turn, whatever it says
                    await self.interrupt()
        elif isinstance(heard, SpeechStopped):
            await self.client.notify(SpeechEnded(heard.seconds, heard.reason, heard.end_ms))
        elif isinstance(heard, Transcript):
            await self.on_transcript(heard.text)
        elif isinstance(heard, Paused):
            reading = asyncio.create_task(self.read_words(heard))  # the turn's decision waits for it: not for routing
            try:
                await self.preempt(heard.text)
            finally:
                await reading
        elif isinstance(heard, Resumed):
            await self.discard_preemptive()
        elif isinstance(heard, VoiceServiceError):
            await self.fail(ErrorCode.VOICE_FAILED, f"The voice service reported: {heard.message}")

    async def on_transcript(self, text: str) -> None:
        overlap, self.overlap = self.overlap, None
        if overlap is not None:  # the utterance began while an answer was running
            meaning = classify(text, self.backchannels)
            if meaning != "interruption" and self.turn_id is not None:
                self.playback.resume()
                await self.client.notify(AudioResumed(self.turn_id, meaning, text))
                return
            await self.interrupt()
        if not self.options.respond:  # the client asks for the answer itself
            await self.client.notify(Heard(text, None))
            return
        await self.cancel_turn()
        preemptive = self.preemptive
        if preemptive is not None and preemptive.text == text:
            await self.confirm(preemptive)
            return
        await self.discard_preemptive()
        self.turn_id = turn_id = uuid.uuid4().hex
        await self.client.notify(Heard(text, turn_id))
        if text and not await self.rate_limited(turn_id):
            self.turn = asyncio.create_task(self.respond(turn_id, text), name="voice-turn")

    async def rate_limited(self, turn_id: str) -> bool:
        """Count a turn against the client's chat limit, like a REST chat request; True (and said) when over it."""
        limited = await self.rate_limiter.hit_turn(self.scope) if self.rate_limiter is not None else None
        if limited is None:
            return False
        retry_after, message = limited
        await self.client.notify(Failure(ErrorCode.RATE_LIMITED, message, turn_id, retry_after))
        return True

    async def read_words(self, paused: Paused) -> None:
        """Tell the voice service how the bundled model reads the pause's words, for its turn decision (which
        waits for this a moment: VOICE_TURN__CLIENT_WORDS_WAIT_MS)."""
        listener = self.listener
        if self.words is None or listener is None or not listener.reads_words or not paused.text:
            return
        try:
            probability = await self.words.read(paused.text)
        except Exception:  # the voice service decides without it once its wait is over
            log.warning("voice_words_read_failed", item_id=paused.item_id, exc_info=True)
            return
        log.debug("voice_words_read", item_id=paused.item_id, probability=probability)
        with contextlib.suppress(SocketGone):  # the listener reports the loss itself
            await listener.read_words(paused, probability)

    # -- answering before the turn is confirmed -----------------------------------------------------------------

    async def preempt(self, text: str) -> None:
        """A pause's words, the turn still undecided: start answering them now, unheard (the playback is held) and
        unstored (`Confirmation`), unless an answer is running or the words lead to an agent (which spends)."""
        if not self.limits.preemptive or not self.options.respond or not text:
            return
        if self.answering or self.overlap is not None:
            return
        if self.preemptive is not None and self.preemptive.text == text:
            return
        await self.discard_preemptive()
        try:
            admitted = await self.admit(text)
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
        await self.client.notify(Heard(preemptive.text, preemptive.turn_id, preemptive=True))
        if await self.rate_limited(preemptive.turn_id):
            await self.discard_preemptive()
            return
        async with preemptive.lock:
            for notice in preemptive.held:
                await self.client.notify(notice)
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

    async def notify_turn(self, turn_id: str, notice: Notice) -> None:
        """A turn's notice to the client, or held back while the turn is a preemptive answer not yet confirmed."""
        preemptive = self.preemptive
        if preemptive is None or preemptive.turn_id != turn_id:
            await self.client.notify(notice)
            return
        async with preemptive.lock:
            if preemptive.confirmation.decided:
                await self.client.notify(notice)
            else:
                preemptive.held.append(notice)

    async def interrupt(self) -> None:
        if self.answering and self.turn_id is not None:
            await self.client.notify(BargeIn(self.turn_id))
            await self.cancel_turn()
        self.playback.resume()  # nothing of the cancelled turn is left to hold

    async def cancel_turn(self, *, announce: bool = True) -> bool:
        """Stop the running answer, generation and speech; False when none was running."""
        turn, turn_id = self.turn, self.turn_id
        if turn is None or turn.done():
            return False
        turn.cancel()  # stops the model's generation; the speech is cancelled below
        with contextlib.suppress(asyncio.CancelledError):
            await turn
        if turn_id is not None and self.answers is not None:
            await self.answers.cancel(turn_id)
        if announce:
            await self.client.notify(TurnCancelled(turn_id))
        return True

    # -- answering -----------------------------------------------------------------------------------------------

    async def admit(self, text: str) -> Admitted:
        options = self.options
        return await self.orchestrator.admit(
            text,
            options.path,
            options.role,
            caller=self.caller,
            client=client_key(self.scope),
            thread_id=options.thread_id,
        )

    async def respond(
        self, turn_id: str, text: str, admitted: Admitted | None = None, confirmation: Confirmation | None = None
    ) -> None:
        """Answer `text`; a preemptive answer (`confirmation`) reports a failure only once it is confirmed."""
        with structlog.contextvars.bound_contextvars(turn_id=turn_id):
            try:
                failed = await self.deliberate(turn_id, text, admitted, confirmation)
            except CouncilError as exc:
                if confirmation is None or await confirmation.confirmed():
                    retry_after = exc.headers.get("Retry-After")
                    await self.fail(exc.code, exc.message, turn_id, int(retry_after) if retry_after else None)
                    await self.client.notify(TurnEnded(turn_id, failed=True))
                return
            except WebSocketDisconnect:
                log.info("voice_turn_abandoned_by_client")
                return
            except Exception:  # say so, keep the socket
                log.exception("voice_turn_failed")
                if confirmation is None or await confirmation.confirmed():
                    await self.fail(ErrorCode.INTERNAL_ERROR, "The voice turn failed unexpectedly.", turn_id)
                    await self.client.notify(TurnEnded(turn_id, failed=True))
                return
            await self.notify_turn(turn_id, TurnEnded(turn_id, failed))

    async def deliberate(
        self, turn_id: str, text: str, admitted: Admitted | None, confirmation: Confirmation | None
    ) -> bool:
        """Stream the turn's events and speak its answer; True when it ended with an error event."""
        voice = self.answers if self.options.speak else None
        answer: Utterance | None = None
        spoken = ""  # the answer text handed to speech so far
        failed = False
        if admitted is None:
            admitted = await self.admit(text)
        stream = self.orchestrator.stream(admitted, spoken=True, confirmation=confirmation)
        async for event in stream:
            await self.notify_turn(turn_id, TurnEvent(turn_id, event))
            failed = failed or isinstance(event, ErrorEvent)
            if isinstance(event, FinalEvent) and event.thread_id:  # the next turns continue it
                self.options.thread_id = event.thread_id
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
        return failed

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
