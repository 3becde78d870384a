"""Streamed synthesis on `WS /v1/realtime/speech`: text deltas in (as an LLM writes them), audio out by
clause, and `speech.cancel` stops it at once (barge-in). An engine that streams text (Kyutai) is instead given each
answer's deltas as they come, in one utterance, and its frames are sent as it makes them (`speech_stream`).

Client -> server: `speech.text.delta` {delta}, `speech.text.done`, `speech.cancel`, `session.update` {voice}.
Server -> client: `session.created`, `speech.audio.delta` {delta: base64 pcm16 mono 24 kHz}, `speech.audio.done`,
`speech.cancelled`, `error`.
"""

import base64
import re
import uuid
from functools import partial
from typing import Any

import anyio
from fastapi import WebSocket

from voice.audio import OUTPUT_RATE, Samples, StreamEncoder
from voice.engines.base import StreamingTextToSpeech, TextToSpeech
from voice.engines.registry import EngineRegistry
from voice.engines.tts.piper import split_for_streaming
from voice.errors import InvalidRequest, VoiceError
from voice.realtime.words import DANGLING
from voice.sessions.events import (
    answering_errors,
    error_body,
    object_field,
    parse_event,
    receive_frame,
    string_field,
)
from voice.sessions.speech_stream import StreamedAnswers
from voice.settings import Settings

# A sentence or clause mark followed by space (or the end of the text so far), or a line break. A mark right after a
# digit at the end of the text so far is not one yet: the next delta may go on "3" "." "5".
_BOUNDARY = re.compile(r"([.!?…,;:—])(?:\s+|$)|\n+")
_SENTENCE_MARKS = ".!?…"
_MIN_CLAUSE_CHARS = 40
# The first piece of an utterance may end at a shorter clause ("Well, ", "In short, "): it is what the listener waits
# for, and the rest is written faster than it is spoken.
_MIN_FIRST_CLAUSE_CHARS = 12
_WORD = re.compile(r"\S+(?=\s)")  # a word the next delta cannot lengthen any more: whitespace follows it


def first_phrase_end(text: str, min_words: int) -> int:
    """Where the first spoken piece may end before any clause mark: after `min_words` whole words, at the first word
    a phrase can end on (not "the", "of", "and"..., nor a number, whose unit may follow); 0: not yet."""
    if min_words <= 0:
        return 0
    for count, word in enumerate(_WORD.finditer(text), start=1):
        bare = word.group().strip(",;:\"'()").lower()
        if count >= min_words and bare not in DANGLING and not any(char.isdigit() for char in bare):
            return word.end()
    return 0


class SpeechSession:
    def __init__(self, socket: WebSocket, engines: EngineRegistry, settings: Settings, voice: str | None) -> None:
        self.socket = socket
        self.settings = settings
        self.loaded = engines.synthesizer("tts-1")
        engine = self.loaded.require_ready()
        self.voice = engines.resolve_voice(voice or engine.voices()[0].id, self.loaded)
        self.engines = engines
        self.pending = ""
        self.chunks: list[str] = []
        self.wake = anyio.Event()
        self.done = False
        self.first_piece = True  # the next piece taken starts an utterance
        self.scope = anyio.CancelScope()
        self.speaking = False  # text is being spoken: the socket is not idle, although the client is quiet
        # None: the engine is spoken clause by clause (the rest of this class); else each answer is one utterance.
        self.stream = (
            StreamedAnswers(self.loaded, self.send, lambda: self.voice, settings.realtime)
            if isinstance(engine, StreamingTextToSpeech)
            else None
        )

    async def send(self, event_type: str, **fields: Any) -> None:
        await self.socket.send_json({"event_id": f"event_{uuid.uuid4().hex[:20]}", "type": event_type, **fields})

    async def run(self) -> None:
        await self.send(
            "session.created",
            session={"type": "speech", "voice": self.voice, "output_audio_format": "pcm16", "sample_rate": OUTPUT_RATE},
        )
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self.stream.speak_forever if self.stream else self._speak_forever)
            limits, speaker = self.settings.realtime, self.stream or self
            while True:
                message = await receive_frame(
                    self.socket,
                    max_bytes=limits.max_frame_bytes,
                    idle_timeout_s=limits.idle_timeout_s,
                    busy=lambda: speaker.speaking,
                )
                if message is None:
                    tasks.cancel_scope.cancel()
                    return
                async with answering_errors(self.send, session="speech"):
                    await self.handle(parse_event(message.get("text")))

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if self.stream and kind in ("speech.text.delta", "speech.text.done", "speech.cancel"):
            await self._handle_streamed(kind, event, self.stream)
        elif kind == "speech.text.delta":
            delta = string_field(event, "delta")
            waiting = len(self.pending) + sum(len(chunk) for chunk in self.chunks)
            if waiting + len(delta) > self.settings.realtime.max_queued_text_chars:
                # Text faster than it can be spoken, without end: refused (the delta is dropped), the queue kept.
                raise InvalidRequest(
                    f"{waiting} characters are already waiting to be spoken; the limit is "
                    f"{self.settings.realtime.max_queued_text_chars} (VOICE_REALTIME__MAX_QUEUED_TEXT_CHARS)."
                )
            self.pending += delta
            if len(self.pending) > self.settings.limits.max_text_chars:
                raise InvalidRequest("The pending text is over VOICE_LIMITS__MAX_TEXT_CHARS; send speech.text.done.")
            self._take(final=False)
        elif kind == "speech.text.done":
            self._take(final=True)
            self.done = True
            self.wake.set()
        elif kind == "speech.cancel":
            # Barge-in: forget queued text and stop the chunk being synthesized; nothing more of it is sent.
            self.pending, self.chunks, self.done, self.first_piece = "", [], False, True
            self.scope.cancel()
            await self.send("speech.cancelled")
        elif kind == "session.update":
            voice = string_field(object_field(event, "session"), "voice")
            if voice:
                self.voice = self.engines.resolve_voice(voice, self.loaded)
            await self.send("session.updated", session={"voice": self.voice})
        else:
            raise InvalidRequest(f"Bad event: unknown event type {kind!r}.")

    async def _handle_streamed(self, kind: str, event: dict[str, Any], stream: StreamedAnswers) -> None:
        if kind == "speech.text.delta":
            stream.add(string_field(event, "delta"))
        elif kind == "speech.text.done":
            stream.end_answer()
        else:
            await stream.cancel()  # the open utterance is closed before this answers: nothing more of it is sent
            await self.send("speech.cancelled")

    def _take(self, *, final: bool) -> None:
        """Move the finished sentences (and long enough clauses) of the pending text to the speaking queue."""
        cut = len(self.pending) if final else 0
        min_clause = _MIN_FIRST_CLAUSE_CHARS if self.first_piece else _MIN_CLAUSE_CHARS
        for boundary in _BOUNDARY.finditer(self.pending):
            start = boundary.start()
            if boundary.end() == len(self.pending) and start > 0 and self.pending[start - 1].isdigit():
                continue  # wait for the next delta: a space ends the sentence, a digit goes on the number
            if boundary.group(1) in (None, *_SENTENCE_MARKS) or boundary.end() >= min_clause:
                cut = max(cut, boundary.end())
        if self.first_piece and not cut:
            # The listener waits for the first words: they leave as soon as they make a phrase; later pieces keep
            # sentence and clause boundaries, which the voice's prosody needs, and are written faster than spoken.
            cut = first_phrase_end(self.pending, self.settings.realtime.first_piece_words)
        complete, self.pending = self.pending[:cut], self.pending[cut:]
        pieces = split_for_streaming(complete)
        if pieces:
            self.chunks.extend(pieces)
            self.first_piece = False
            self.wake.set()
        if final:
            self.first_piece = True  # text after speech.text.done is another utterance

    async def _speak_forever(self) -> None:
        while True:
            await self.wake.wait()
            self.wake = anyio.Event()
            self.scope = anyio.CancelScope()
            with self.scope:
                self.speaking = True
                try:
                    # A failure is an `error` event; the session (and this task) carries on with the next wake.
                    async with answering_errors(self.send, session="speech"):
                        await self._speak_pending()
                finally:
                    self.speaking = False

    async def _speak_pending(self) -> None:
        engine = self.loaded.require_ready()
        encoder = StreamEncoder("pcm", engine.sample_rate)
        while self.chunks:
            text = self.chunks.pop(0)
            try:
                async with self.loaded.job(session="realtime-speech") as job:
                    audio = await job.call(partial(_synthesize, engine, text, self.voice))
                    job.audio_seconds = sum(chunk.size for chunk in audio) / engine.sample_rate
            except VoiceError as error:
                # Busy or unavailable: the text is not lost; it stays first in line for the next wake (more text,
                # or speech.text.done again), and the client is told what is waiting.
                if not self.scope.cancel_called:
                    self.chunks.insert(0, text)
                await self.send("error", error=error_body(error), text=text)
                return
            data = b"".join(encoder.encode(chunk) for chunk in audio)
            await self.send("speech.audio.delta", delta=base64.b64encode(data).decode(), text=text)
        if self.done:
            tail = encoder.finish()
            if tail:
                await self.send("speech.audio.delta", delta=base64.b64encode(tail).decode(), text="")
            self.done = False
            await self.send("speech.audio.done")


def _synthesize(engine: TextToSpeech, text: str, voice: str) -> list[Samples]:
    return list(engine.synthesize(text, voice, 1.0))
