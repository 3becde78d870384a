"""The listening session behind `WS /v1/realtime`: a transcription session in the shape of OpenAI's Realtime API.

Client -> server: `input_audio_buffer.append` (base64 pcm16 mono at 24 kHz, or `?sample_rate=16000` etc.; or
binary frames of the same), `input_audio_buffer.commit`, `input_audio_buffer.clear`, `session.update` (beta:
`transcription_session.update`; `turn_detection`: `{"type": "semantic_vad"}`, `{"type": "server_vad",
"silence_duration_ms": N}` or null for none; `input_audio_transcription`: `{"word_timestamps": false}` to leave
them out). Server -> client: `session.created` / `session.updated` (with the settings in effect),
`input_audio_buffer.speech_started` (as soon as Silero hears speech, frame by frame) / `speech_stopped` (with
`reason`: audio, text, both, timeout or max_length; see `voice.realtime`),
`conversation.item.input_audio_transcription.delta` (partial: the words that have become stable while someone
speaks; then the rest once the utterance ends), `input_audio_buffer.committed`, `.completed` (with word
timestamps, unless turned off), `error`.
"""

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import structlog
from fastapi import WebSocket

from voice.audio import SampleBuffer, Samples, StreamResampler, decode_pcm16
from voice.engines.base import SpeechProbabilities
from voice.engines.registry import EngineRegistry
from voice.errors import InvalidRequest, VoiceError
from voice.realtime.end_of_turn import READ_LANGUAGE, Heard, TurnRule
from voice.realtime.endpointing import (
    Endpointer,
    Moment,
    Onset,
    Pause,
    Quiet,
    Resumed,
    Stopped,
    StopReason,
    TurnDetection,
)
from voice.realtime.held_pause import HeldPause, HeldPauses, Verdict
from voice.realtime.stable_words import StableWords
from voice.sessions.events import (
    answering_errors,
    object_field,
    parse_event,
    receive_frame,
    string_field,
)
from voice.sessions.transcripts import SessionTranscripts, Speculation
from voice.settings import Settings

log = structlog.get_logger(__name__)

INPUT_RATE = 24_000  # OpenAI Realtime's pcm16
WORK_RATE = 16_000  # Whisper's, Silero's and Smart Turn's
PRE_ROLL_S = 1.0  # audio kept before the newest frame while no one speaks (the start of an utterance is in it)
ALIASES = {"transcription_session.update": "session.update"}


def _word_timestamps(requested: object) -> bool:
    """`session.input_audio_transcription`: `{"word_timestamps": false}` leaves the completed items' `words` empty."""
    if not isinstance(requested, dict) or not isinstance(requested.get("word_timestamps", True), bool):
        raise InvalidRequest(
            "Bad event: session.input_audio_transcription must be a JSON object; its word_timestamps true or false."
        )
    return bool(requested.get("word_timestamps", True))


Job = Callable[[], Awaitable[None]]
OUTBOX_JOBS = 256  # events and item endings waiting to be sent: past this, reading the socket waits (backpressure)


@dataclass
class Item:
    """One utterance: its ID and what of its transcript the client has been sent."""

    id: str = field(default_factory=lambda: f"item_{uuid.uuid4().hex[:20]}")
    stable: StableWords = field(default_factory=StableWords)
    ended: bool = False  # cut from the buffer; its last events are on their way
    late: str = ""  # a partial's delta that came in after the cut: it still goes out before `speech_stopped`
    paused: bool = False  # `input_audio_buffer.paused` went out for its current pause (so resuming is news)


class TranscriptionSession:
    """The loop that reads the socket never waits for a transcript: turn decisions that need one wait beside it
    (`HeldPauses`, plain state: this class only awaits the words and acts on the verdict), and an ended item's transcript is finished by the outbox, which sends every event in order, so the
    events of one item all come before the next item's."""

    def __init__(self, socket: WebSocket, engines: EngineRegistry, settings: Settings, input_rate: int) -> None:
        self.socket = socket
        self.input_rate = input_rate
        self.to_work_rate = StreamResampler(input_rate, WORK_RATE)
        self.engines = engines
        self.settings = settings
        self.buffer = SampleBuffer()  # at WORK_RATE, since the last commit
        self.offset = 0  # where `buffer` starts in the session's audio, in samples
        self.item = Item()
        self.items = {self.item.id: self.item}  # the current item and those whose last events are on their way
        self.transcripts = SessionTranscripts(engines, settings, self.on_partial, self.on_speculated)
        self.pauses = HeldPauses[Speculation](TurnRule.of(settings.turn))
        self.settled = anyio.Event()  # set once the newest held pause is settled: control events wait for it
        self.settled.set()
        self.detection: TurnDetection | None = None
        self.endpointer: Endpointer | None = None
        self.probabilities: SpeechProbabilities | None = None
        self.listen_from = 0  # where the endpointer's clock starts in the session's audio, in samples
        self.outbox, self._jobs = anyio.create_memory_object_stream[Job](OUTBOX_JOBS)
        try:
            self.detect_turns(self._detections()[0])
        except VoiceError:  # the VAD is still loading: no turn detection until the client asks again
            log.warning("realtime_vad_not_ready")

    def _detections(self) -> tuple[TurnDetection, TurnDetection]:
        """What `semantic_vad` and `server_vad` mean here, the default first: semantic when a semantic turn engine
        is ready; otherwise `semantic_vad` falls back to silence endpointing too."""
        server = TurnDetection("server_vad", self.settings.vad.min_silence_ms)
        turn = self.engines.turn_detector()
        if turn is None or not turn.engine.semantic:
            return server, server
        return TurnDetection("semantic_vad", self.settings.turn.max_silence_ms), server

    def detect_turns(self, detection: TurnDetection | None) -> None:
        """Start (or stop) turn detection from the newest audio on; the current item goes on."""
        self.pauses.release()
        vad = self.engines.vad
        if vad is None or detection is None:
            self.detection = self.endpointer = self.probabilities = None
            return
        stream = vad.require_ready().stream()
        self.detection, self.probabilities = detection, stream
        self.listen_from = self.offset + self.buffer.size
        self.endpointer = Endpointer(
            frame_s=stream.frame_samples / WORK_RATE,
            threshold=self.settings.vad.threshold,
            onset_ms=self.settings.realtime.onset_ms,
            transcribe_silence_ms=self.settings.turn.transcribe_silence_ms,
            short_silence_ms=self.settings.turn.short_silence_ms,
            detection=detection,
        )

    def _effective(self) -> dict[str, Any] | None:
        return None if self.detection is None else self.detection.as_json()

    def _session_settings(self) -> dict[str, Any]:
        """What `session.created` and `session.updated` report: the settings in effect."""
        return {
            "turn_detection": self._effective(),
            "input_audio_transcription": {"word_timestamps": self.transcripts.word_timestamps},
        }

    async def send(self, event_type: str, **fields: Any) -> None:
        await self.socket.send_json({"event_id": f"event_{uuid.uuid4().hex[:20]}", "type": event_type, **fields})

    async def post(self, event_type: str, **fields: Any) -> None:
        """Send an event after everything posted before it (an ended item's transcript included)."""
        await self.outbox.send(partial(self.send, event_type, **fields))

    async def _deliver(self) -> None:
        async with self._jobs:
            async for job in self._jobs:
                async with answering_errors(self.send, session="transcription"):
                    await job()

    async def run(self) -> None:
        await self.send(
            "session.created",
            session={
                "type": "transcription",
                "input_audio_format": "pcm16",
                "input_sample_rate": self.input_rate,
                **self._session_settings(),
            },
        )
        try:
            async with anyio.create_task_group() as tasks:  # transcripts and the outbox run beside the read loop
                self.transcripts.tasks = tasks
                tasks.start_soon(self._deliver)
                await self._read(tasks)
        finally:
            self.outbox.close()
            self._jobs.close()

    async def _read(self, tasks: anyio.abc.TaskGroup) -> None:
        limits = self.settings.realtime
        while True:
            message = await receive_frame(
                self.socket, max_bytes=limits.max_frame_bytes, idle_timeout_s=limits.idle_timeout_s
            )
            if message is None:
                tasks.cancel_scope.cancel()
                return
            async with answering_errors(self.post, session="transcription"):
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
            return
        if kind == "input_audio_buffer.text_end_of_turn":  # what a held pause may be waiting for: never queued
            self.read_by_client(event)
            return
        # Control events are answered after every event the audio before them causes: a held pause settles first.
        if self.pauses.held is not None:
            await self.settled.wait()
        if kind == "input_audio_buffer.commit":
            await self.finish(self.buffer.size)
        elif kind == "input_audio_buffer.clear":
            self._drop(self.buffer.size)
            await self.post("input_audio_buffer.cleared")
        elif kind == "session.update":
            session = object_field(event, "session")
            if "turn_detection" in session:  # absent: unchanged, as in OpenAI's session.update
                requested = session["turn_detection"]
                if requested is not None and not isinstance(requested, dict):
                    raise InvalidRequest("Bad event: session.turn_detection must be a JSON object or null.")
                semantic, server = self._detections()
                parsed = None if requested is None else TurnDetection.parse(requested, semantic=semantic, server=server)
                self.detect_turns(parsed)
            if "input_audio_transcription" in session:
                self.transcripts.word_timestamps = _word_timestamps(session["input_audio_transcription"])
            await self.post("session.updated", session=self._session_settings())
        else:
            raise InvalidRequest(f"Bad event: unknown event type {kind!r}.")

    def read_by_client(self, event: dict[str, Any]) -> None:
        """The client's language model read a pause's words (`input_audio_buffer.paused`): the pause's verdict
        weighs it (`end_of_turn`). One for a pause that has passed is ignored."""
        item_id, end_ms, probability = event.get("item_id"), event.get("audio_end_ms"), event.get("probability")
        if not isinstance(item_id, str) or not isinstance(end_ms, int) or isinstance(end_ms, bool):
            raise InvalidRequest("Bad event: text_end_of_turn needs item_id (a string) and audio_end_ms (an integer).")
        if not isinstance(probability, int | float) or isinstance(probability, bool) or not 0 <= probability <= 1:
            raise InvalidRequest("Bad event: text_end_of_turn.probability must be a number from 0 to 1.")
        held = self.pauses.held
        for speculation in (self.transcripts.speculation, held.words if held is not None else None):
            if speculation is not None and (speculation.item_id, speculation.end_ms) == (item_id, end_ms):
                speculation.model = float(probability)
                speculation.read.set()
                return

    async def append(self, samples: Samples) -> None:
        audio = self.to_work_rate.push(samples)
        self.buffer.extend(audio)
        if self.probabilities is not None and self.endpointer is not None:
            await self.listen(audio, self.probabilities, self.endpointer)
        if self.buffer.size / WORK_RATE > self.settings.limits.max_audio_seconds:
            # Never let one utterance outgrow the duration limit.
            if self.endpointer is not None and self.endpointer.speaking:
                await self.stop(self.endpointer.stop(StopReason.MAX_LENGTH), self.buffer.size)
            else:
                await self.finish(self.buffer.size)

    async def listen(self, audio: Samples, stream: SpeechProbabilities, endpointer: Endpointer) -> None:
        """Score the new audio only (Silero's state carries over), then act on each frame's verdict in order."""
        probabilities = await anyio.to_thread.run_sync(stream.push, audio)
        for probability in probabilities:
            for moment in endpointer.feed([probability]):
                await self.on(moment)
        if not endpointer.speaking:
            # Silence: keep only a pre-roll, so the buffer stays small however long the silence lasts.
            self._forget(self.buffer.size - int(PRE_ROLL_S * WORK_RATE))
        elif endpointer.in_speech:  # a partial started in the silence would hold up the transcript of the pause
            self.transcripts.start_partial(self.buffer.samples, self.item.id)

    def _at(self, endpointer_s: float) -> int:
        """A time of the endpointer's clock as a sample of the session's audio."""
        return self.listen_from + round(endpointer_s * WORK_RATE)

    async def on(self, moment: Moment) -> None:
        if isinstance(moment, Onset):
            start_ms = round(self._at(moment.start_s) / WORK_RATE * 1000)
            await self.post("input_audio_buffer.speech_started", audio_start_ms=start_ms, item_id=self.item.id)
        elif isinstance(moment, Quiet):
            end = self._utterance_end(moment.speech_end_s)
            self.transcripts.speculate(self.buffer.samples[:end], self.item.id, self.offset + end)
        elif isinstance(moment, Pause):
            await self.pause(moment)
        elif isinstance(moment, Resumed):
            self.pauses.release()  # the speaker goes on: a pause waiting for its transcript does not end the turn
            self.transcripts.discard(resumed=True)  # and the transcript started at it is only a partial
            if self.item.paused:  # whatever the client started from that pause's transcript is void
                self.item.paused = False
                await self.post("input_audio_buffer.resumed", item_id=self.item.id)
        else:
            await self.stopped(moment)

    def _utterance_end(self, speech_end_s: float) -> int:
        """Where to cut the utterance in `buffer`: after its last speech frame and a little of the silence, no more
        than there is at the quiet moment, so the transcript started then covers the audio the item ends with."""
        pad_ms = min(self.settings.vad.speech_pad_ms, self.settings.turn.transcribe_silence_ms)
        return min(self.buffer.size, self._at(speech_end_s) - self.offset + round(pad_ms / 1000 * WORK_RATE))

    async def pause(self, pause: Pause) -> None:
        """A short silence: ask the turn engine (semantic_vad) if the turn is over; the words of the transcript
        started at the quiet moment before it (same speech end, so the same audio) then have their say
        (`end_of_turn`) when it is in."""
        end = self._utterance_end(pause.speech_end_s)
        speculation = self.transcripts.speculation
        turn, endpointer = self.engines.turn_detector(), self.endpointer
        if turn is None or endpointer is None or self.detection is None or self.detection.type != "semantic_vad":
            return
        # The utterance up to this moment: a large append may already hold audio from after the pause.
        engine, audio = turn.require_ready(), self.buffer.samples[: self._at(endpointer.now_s) - self.offset]
        try:
            async with turn.job(session="realtime", item_id=self.item.id) as job:
                job.audio_seconds = audio.size / WORK_RATE
                probability = await job.call(lambda: engine.completion(audio))
        except VoiceError as error:  # busy or gone: the silence decides, as without a turn engine
            log.warning("realtime_turn_skipped", reason=error.message)
            probability = 1.0
        log.info("realtime_turn_decision", item_id=self.item.id, probability=round(probability, 3))
        if endpointer is not self.endpointer:
            return
        outcome = self.pauses.pause(end, probability, speculation)
        if isinstance(outcome, Verdict):
            await self.stop(endpointer.stop(outcome.reason), outcome.end)
        elif outcome is not None:
            # The verdict waits for the transcript started at the pause; the socket is read meanwhile, so speech that
            # resumes before then keeps the turn open (`Resumed` releases the pause).
            self.settled = anyio.Event()
            assert self.transcripts.tasks is not None  # set while the session runs, as the speculation needed
            self.transcripts.tasks.start_soon(self._end_held, outcome, endpointer, self.item.id, self.settled)

    async def _heard(self, pause: HeldPause[Speculation]) -> Heard:
        """What the held pause's transcript says, once it is in (nothing, when none was started), with the client's
        reading of it when the client reads words and its reading comes in time."""
        words = pause.words
        if words is None:
            return Heard.of(None, None)
        await words.done.wait()
        if words.transcript is None:
            return Heard.of(None, None)
        text, language = words.transcript.text, words.transcript.language
        client_reads = self.detection is not None and self.detection.text_end_of_turn == "client"
        if client_reads and language == READ_LANGUAGE and not Heard.of(text, language).settled_by_rules:
            with anyio.move_on_after(self.settings.turn.client_words_wait_ms / 1000):
                await words.read.wait()
            if words.model is None:
                log.info("realtime_client_reading_late", item_id=words.item_id)
        return Heard.of(text, language, words.model)

    async def _end_held(
        self, pause: HeldPause[Speculation], endpointer: Endpointer, item_id: str, settled: anyio.Event
    ) -> None:
        try:
            async with answering_errors(self.post, session="transcription"):
                heard = await self._heard(pause)
                still_held = self.pauses.held is pause  # else: resumed, ended, or settled by the silence
                verdict = self.pauses.heard(pause, heard)
                if verdict is not None:
                    await self.stop(endpointer.stop(verdict.reason), verdict.end)
                elif still_held:  # the words kept the turn open: more speech, or the longest silence, ends it
                    log.info("realtime_turn_held", item_id=item_id, probability=round(pause.probability, 3))
        finally:
            settled.set()

    async def stopped(self, stopped: Stopped) -> None:
        """The endpointer ended the utterance: its silence ran out. A pause still waiting for its transcript
        decides first, so the reason does not depend on how fast the transcript came."""
        pause = self.pauses.take()
        heard = await self._heard(pause) if pause is not None else None
        silence = Verdict(stopped.reason, self._utterance_end(stopped.speech_end_s))
        verdict = self.pauses.after_silence(pause, heard, silence)
        await self.stop(Stopped(stopped.speech_end_s, verdict.reason), verdict.end)

    async def stop(self, stopped: Stopped, end: int) -> None:
        end_ms = round(self._at(stopped.speech_end_s) / WORK_RATE * 1000)
        await self.finish(end, ended_by=(end_ms, stopped.reason))

    async def finish(self, end: int, *, ended_by: tuple[int, StopReason] | None = None) -> None:
        """End the current item at `end` now (its audio leaves the buffer, the next item begins) and post what
        finishes it: `speech_stopped` (when the endpointer ended it), `committed` and its transcript."""
        item, audio, offset = self.item, self.buffer.samples[:end], self.offset
        speculation = self.transcripts.take(item.id, offset + end)
        item.ended = True
        self._drop(end, keep_speculation=True)

        async def finished() -> None:
            # A partial in flight holds the STT slot the final needs, and may still add a delta: wait for it.
            await self.transcripts.settle_partial()
            try:
                if item.late:
                    await self._send_delta(item, item.late)
                if ended_by is not None:
                    end_ms, reason = ended_by
                    await self.send(
                        "input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=item.id, reason=reason.value
                    )
                await self.send("input_audio_buffer.committed", item_id=item.id, previous_item_id=None)
                transcript = await self.transcripts.final(audio, speculation)
                await self._send_delta(item, item.stable.finish(transcript.text))
                start_s = offset / WORK_RATE
                words = [
                    {"word": w.word, "start": round(start_s + w.start, 3), "end": round(start_s + w.end, 3)}
                    for w in transcript.words
                ]
                await self.send(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=item.id,
                    content_index=0,
                    transcript=transcript.text,
                    words=words,
                )
            finally:
                self.items.pop(item.id, None)

        await self.outbox.send(finished)

    async def _send_delta(self, item: Item, delta: str) -> None:
        if delta:
            await self.send(
                "conversation.item.input_audio_transcription.delta", item_id=item.id, content_index=0, delta=delta
            )

    async def on_speculated(self, speculation: Speculation) -> None:
        """A pause's transcript is in while its turn is still open: said at once (`input_audio_buffer.paused`), so a
        client may start answering it before the turn is decided (preemptive generation)."""
        item = self.items.get(speculation.item_id)
        if item is None or item.ended or item is not self.item or speculation.transcript is None:
            return
        item.paused = True
        end_ms = round(speculation.end / WORK_RATE * 1000)
        await self.post(
            "input_audio_buffer.paused",
            item_id=item.id,
            audio_end_ms=end_ms,
            transcript=speculation.transcript.text,
        )

    async def on_partial(self, item_id: str, hypothesis: str) -> None:
        item = self.items.get(item_id)
        if item is None:
            return  # the item was cleared, or its transcript is complete
        delta = item.stable.agree(hypothesis)
        if delta and item.ended:
            item.late += delta
        elif delta:
            await self.outbox.send(partial(self._send_delta, item, delta))

    def _forget(self, end: int) -> None:
        """Drop the first `end` samples (no speech in them) without ending the current item."""
        if end > 0:
            self.buffer.drop_front(end)
            self.offset += end

    def _drop(self, end: int, *, keep_speculation: bool = False) -> None:
        """End the current item: its audio up to `end` leaves the buffer and a new item begins."""
        self._forget(end)
        if not self.item.ended:
            self.items.pop(self.item.id, None)  # cleared: nothing more of it is sent
        self.item = Item()
        self.items[self.item.id] = self.item
        self.pauses.release()
        if not keep_speculation:
            self.transcripts.discard()
        if self.endpointer is not None:
            self.endpointer.reset()
