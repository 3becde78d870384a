"""One realtime session's Whisper work: partials while someone speaks, the transcript started at a pause (kept if
the turn ends there, dropped if speech resumes), and the final one."""

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import anyio.abc
import structlog

from voice.audio import Samples
from voice.engines.base import Transcript, TranscriptionOptions
from voice.engines.registry import EngineRegistry
from voice.settings import Settings

log = structlog.get_logger(__name__)

WORK_RATE = 16_000
OnPartial = Callable[[str, str], Awaitable[None]]  # (item id, hypothesis of the utterance so far)
OnSpeculated = Callable[["Speculation"], Awaitable[None]]  # a pause's transcript is in (before `done` is set)


@dataclass
class Speculation:
    item_id: str
    end: int  # where the audio ends, in samples of the session's audio
    done: anyio.Event
    transcript: Transcript | None = None
    resumed: bool = False  # speech came back before the turn ended: only a partial now
    model: float | None = None  # the client's language model's reading of its words (`text_end_of_turn`)
    read: anyio.Event = field(default_factory=anyio.Event)  # set once `model` is in

    @property
    def end_ms(self) -> int:
        """Where its audio ends in the session's audio, as `input_audio_buffer.paused` says it."""
        return round(self.end / WORK_RATE * 1000)


class SessionTranscripts:
    """At most one partial and one speculative transcription in flight per session, each in a worker thread."""

    def __init__(
        self, engines: EngineRegistry, settings: Settings, on_partial: OnPartial, on_speculated: OnSpeculated
    ) -> None:
        self.engines = engines
        self.settings = settings
        self.on_partial = on_partial
        self.on_speculated = on_speculated
        self.tasks: anyio.abc.TaskGroup | None = None  # the session's, set while it runs
        self.partial_at = -math.inf  # when the last partial started (anyio clock)
        self.partial_done: anyio.Event | None = None  # set when the partial in flight has finished
        self.speculation: Speculation | None = None  # of the current item's pause, if any
        self._speculating: anyio.Event | None = None  # set when the last speculative transcription has finished
        # Word timing costs Whisper a second pass over its attention (tens of ms per transcript): a client that never
        # reads the words (the main service) turns it off with `session.update`.
        self.word_timestamps = True

    def start_partial(self, audio: Samples, item_id: str) -> None:
        """Re-transcribe the utterance so far in the background, if one is due, none is in flight and it is short."""
        limits = self.settings.realtime
        now = anyio.current_time()
        if (
            limits.partial_interval_s <= 0
            or self.tasks is None
            or self.partial_done is not None
            or now - self.partial_at < limits.partial_interval_s
            or audio.size / WORK_RATE > limits.partial_max_utterance_s
        ):
            return
        self.partial_at = now
        self.partial_done = anyio.Event()
        self.tasks.start_soon(self._partial, audio, item_id, self.partial_done)

    async def _partial(self, audio: Samples, item_id: str, done: anyio.Event) -> None:
        try:
            text = await self._transcribe_if_idle(audio)
            if text is not None:
                await self.on_partial(item_id, text)
        finally:
            self.partial_done = None
            done.set()

    async def _transcribe_if_idle(self, audio: Samples) -> str | None:
        """A partial's text, or None: partials are best effort and take only an idle slot of the STT engine, so they
        never queue in front of a final or an upload, nor get a 429 themselves."""
        try:
            loaded = self.engines.transcriber("whisper-1")
            loaded.require_ready()
            queue = loaded.queue
            # No await between this look and taking the slot in `job()`, so the slot is still free then.
            if queue.running + queue.waiting >= self.settings.limits.max_concurrent_jobs:
                log.debug("realtime_partial_skipped", reason="stt queue busy")
                return None
            transcript = await self.transcribe(audio, partial=True)
        except Exception:  # a failed partial must not end the session (this task shares its task group)
            log.warning("realtime_partial_failed", exc_info=True)
            return None
        return transcript.text

    async def settle_partial(self) -> None:
        if self.partial_done is not None:
            await self.partial_done.wait()

    def speculate(self, audio: Samples, item_id: str, end: int) -> Speculation | None:
        """Start the final transcript of `audio` (the utterance up to a pause, ending at `end`) in the background."""
        if self.tasks is None:
            return None
        previous, done = self._speculating, anyio.Event()
        self.speculation = Speculation(item_id, end, done)
        self._speculating = done
        self.tasks.start_soon(self._speculate, self.speculation, audio, previous)
        return self.speculation

    def discard(self, *, resumed: bool = False) -> None:
        """The transcript started at the pause is not wanted as the item's: speech resumed (it then still serves as
        a partial of the utterance so far), or the item ended otherwise."""
        if self.speculation is not None:
            self.speculation.resumed = resumed
        self.speculation = None

    async def _speculate(self, speculation: Speculation, audio: Samples, previous: anyio.Event | None) -> None:
        try:
            if previous is not None:
                await previous.wait()  # one speculative transcription at a time per session
            await self.settle_partial()
            if self.speculation is not speculation:
                return  # discarded while waiting
            speculation.transcript = await self.transcribe(audio, speculative=True)
            if self.speculation is speculation:  # still the pause the session is in
                await self.on_speculated(speculation)
            elif speculation.resumed and self.settings.realtime.partial_interval_s > 0:
                # Speech came back: the read is a partial's (and makes the next one wait its interval).
                self.partial_at = anyio.current_time()
                await self.on_partial(speculation.item_id, speculation.transcript.text)
        except Exception:  # the final transcribes itself then; a failure here must not end the session
            log.warning("realtime_speculation_failed", exc_info=True)
        finally:
            speculation.done.set()

    def take(self, item_id: str, end: int) -> Speculation | None:
        """The speculation an item ending at `end` can use as its final transcript (it covers the same audio), now
        that the item is cut: the session goes on to the next item while this one's transcript is finished."""
        speculation, self.speculation = self.speculation, None
        if speculation is not None and (speculation.item_id, speculation.end) == (item_id, end):
            return speculation
        return None

    async def final(self, audio: Samples, speculation: Speculation | None) -> Transcript:
        """The item's transcript: the one started at its pause when it covers the same audio (`take`), else new."""
        if speculation is not None:
            await speculation.done.wait()  # usually done by the time the turn is confirmed
            if speculation.transcript is not None:
                return speculation.transcript
        return await self.transcribe(audio)

    async def transcribe(self, audio: Samples, *, partial: bool = False, speculative: bool = False) -> Transcript:
        loaded = self.engines.transcriber("whisper-1")
        engine = loaded.require_ready()
        options = TranscriptionOptions(word_timestamps=self.word_timestamps and not partial)
        async with loaded.job(session="realtime", partial=partial, speculative=speculative) as job:
            job.audio_seconds = audio.size / WORK_RATE
            return await job.call(lambda: engine.transcribe(audio, options))
