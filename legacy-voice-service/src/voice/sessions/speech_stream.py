"""The speech socket's path for an engine that takes text as it is written (`StreamingTextToSpeech`, e.g. Kyutai):
each answer's raw deltas go into one utterance (no clause cutting), and its audio frames are sent as they are made.

An answer is the text between one `speech.text.done` and the next. Its utterance opens at its first text, takes each
delta as it comes, is finished by `speech.text.done` (then `speech.audio.done`), and is closed at once by
`speech.cancel` or the end of the socket: the engine is stepped one frame per worker-thread call, so a cancel waits
for at most the frame being made, and nothing of the cancelled answer is sent after it. The engine speaks one
utterance at a time for every socket, so an answer left open is ended after `max_text_gap_s` without text.
"""

import base64
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import anyio
import structlog

from voice.audio import Samples, StreamEncoder
from voice.engines.base import StreamingTextToSpeech, TextToSpeech, Utterance
from voice.engines.loading import Job, LoadedEngine
from voice.errors import InvalidRequest, VoiceError
from voice.sessions.events import SendEvent, answering_errors, error_body
from voice.settings import RealtimeSettings

log = structlog.get_logger(__name__)


@dataclass
class Answer:
    text: str = ""  # received and not yet pushed into the utterance
    done: bool = False  # `speech.text.done` came: later text belongs to the next answer


class StreamedAnswers:
    """The answers waiting to be spoken, first one speaking; `speak_forever` is the socket's speaking task."""

    def __init__(
        self, loaded: LoadedEngine[TextToSpeech], send: SendEvent, voice: Callable[[], str], limits: RealtimeSettings
    ) -> None:
        self.loaded = loaded
        self.send = send
        self.voice = voice  # read when an utterance opens: `session.update` changes the next answer's voice
        self.max_queued_chars = limits.max_queued_text_chars
        self.max_text_gap_s = limits.max_text_gap_s
        self.answers: deque[Answer] = deque()
        self.stalled = False  # the first answer is kept after the engine could not take it
        self.wake = anyio.Event()  # there is an answer to start
        self.arrived = anyio.Event()  # the speaking answer has more text, or its end
        self.scope = anyio.CancelScope()
        self.stopped: anyio.Event | None = None  # set when the speaking task has left the answer it was speaking

    @property
    def speaking(self) -> bool:
        """An answer is being spoken (or waits, for at most `max_text_gap_s`, for its next text)."""
        return self.stopped is not None

    def add(self, delta: str) -> None:
        waiting = sum(len(answer.text) for answer in self.answers)
        if waiting + len(delta) > self.max_queued_chars:
            # Text faster than it can be spoken, without end: refused (the delta is dropped), the queue kept.
            raise InvalidRequest(
                f"{waiting} characters are already waiting to be spoken; the limit is "
                f"{self.max_queued_chars} (VOICE_REALTIME__MAX_QUEUED_TEXT_CHARS)."
            )
        if not self.answers or self.answers[-1].done:
            self.answers.append(Answer())
        self.answers[-1].text += delta
        self._signal()

    def end_answer(self) -> None:
        if self.answers and not self.answers[-1].done:
            self.answers[-1].done = True
        elif not self.stalled:  # a repeated done after a refusal only wakes the kept answer up
            self.answers.append(Answer(done=True))
        self._signal()

    async def cancel(self) -> None:
        """Barge-in: forget every waiting answer and close the speaking one; back once it is closed (the engine is
        free and nothing more of it will be sent), which takes at most the frame being made."""
        self.answers.clear()
        self.stalled = False
        self.scope.cancel()
        if self.stopped is not None:
            await self.stopped.wait()

    def _signal(self) -> None:
        self.arrived.set()
        self.wake.set()

    async def speak_forever(self) -> None:
        while True:
            await self.wake.wait()
            self.wake = anyio.Event()
            self.scope = anyio.CancelScope()
            self.stopped = stopped = anyio.Event()
            try:
                with self.scope:
                    # A failure is an `error` event; the session (and this task) carries on with the next wake.
                    async with answering_errors(self.send, session="speech"):
                        await self._speak_answers()
            finally:
                self.stopped = None
                stopped.set()

    async def _speak_answers(self) -> None:
        while self.answers:
            answer = self.answers[0]
            try:
                if not await self._speak(answer):
                    return  # kept, first in line, for the next wake
            except Exception:
                self._drop(answer)  # it failed while speaking: that answer is lost, the ones after it are not
                raise
            self._drop(answer)

    def _drop(self, answer: Answer) -> None:
        if self.answers and self.answers[0] is answer:
            self.answers.popleft()

    async def _speak(self, answer: Answer) -> bool:
        """Speak one answer to its end; False when the engine could not start it (busy or unavailable)."""
        if answer.done and not answer.text:
            await self.send("speech.audio.done")
            return True
        utterance: Utterance | None = None
        try:
            async with self.loaded.job(session="realtime-speech", streamed=True) as job:
                engine = self.loaded.require_ready()
                assert isinstance(engine, StreamingTextToSpeech), "the session streams only with a streaming engine"
                job.completed = False  # until the answer's last frame is out
                utterance = await job.call(partial(engine.utterance, self.voice()))
                try:
                    await self._stream(answer, utterance, job, engine.sample_rate)
                finally:
                    # Also on cancel: the worker thread has finished its frame by now (it is never abandoned), so the
                    # model is not mid-step when its stream is reset.
                    utterance.close()
        except VoiceError as error:
            if utterance is not None:
                raise
            self.stalled = True
            await self.send("error", error=error_body(error), text=answer.text)
            return False
        self.stalled = False
        return True

    async def _stream(self, answer: Answer, utterance: Utterance, job: Job, rate: int) -> None:
        encoder = StreamEncoder("pcm", rate)
        while True:
            text, answer.text = answer.text, ""
            if text:
                await self._send_frames(utterance.push(text), job, encoder, rate)
            elif answer.done:
                break
            else:
                self.arrived = anyio.Event()
                with anyio.move_on_after(self.max_text_gap_s):
                    await self.arrived.wait()
                if not (answer.text or answer.done):  # left open: end it, so the engine is free for others
                    await self._end_left_open(answer)
                    break
        await self._send_frames(utterance.finish(), job, encoder, rate)
        tail = encoder.finish()
        if tail:
            await self.send("speech.audio.delta", delta=base64.b64encode(tail).decode())
        job.completed = True
        await self.send("speech.audio.done")

    async def _end_left_open(self, answer: Answer) -> None:
        answer.done = True  # text that comes later is another answer
        log.info("speech_answer_left_open", max_text_gap_s=self.max_text_gap_s)
        error = InvalidRequest(
            f"No text for {self.max_text_gap_s:g} s (VOICE_REALTIME__MAX_TEXT_GAP_S): the answer was ended, to free "
            "the engine for others; end each answer with speech.text.done."
        )
        await self.send("error", error=error_body(error))

    async def _send_frames(self, frames: Iterator[Samples], job: Job, encoder: StreamEncoder, rate: int) -> None:
        """Each frame is made in a worker thread and sent as soon as it exists; a cancel lands between two frames."""
        while (frame := await job.call(partial(next, frames, None))) is not None:
            job.audio_seconds += frame.size / rate
            data = encoder.encode(frame)
            if data:
                await self.send("speech.audio.delta", delta=base64.b64encode(data).decode())
