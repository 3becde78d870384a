"""A `/ws/voice` client for bench/voice_loop.py: a microphone that sends 20 ms frames in real time, a timestamped
log of everything the server sends back (events and binary audio), all on one `time.perf_counter` clock, and the
lookups that read that log.
"""

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect

FRAME_S = 0.020
FRAME_BYTES = 640  # 20 ms at 16 kHz s16le
SILENCE = bytes(FRAME_BYTES)


class Refused(RuntimeError):
    """The server answered the handshake with an event other than `ready` (e.g. `error` `voice_unavailable`)."""

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__(f"expected `ready`, got {event}")
        self.event = event


@dataclass(frozen=True)
class Received:
    """One server frame: an event (`event`) or binary audio (`audio_bytes` > 0), with its arrival time."""

    t: float
    event: dict[str, Any] | None = None
    audio_bytes: int = 0

    @property
    def type(self) -> str:
        return self.event.get("type", "?") if self.event is not None else "audio"


@dataclass
class Spoken:
    """When an utterance went out: `onset` = its first frame sent, `end` = its last frame (the last with speech)."""

    onset: float = 0.0
    end: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)


SpokenT = TypeVar("SpokenT", bound=Spoken)  # not PEP 695: bench/voice/ imports this module on Python 3.11


class VoiceSocket:
    """One session. The microphone runs from `open` to `close`, sending silence whenever no utterance is queued,
    as a real microphone would; every frame is due at a fixed instant (start + n * 20 ms), so delays don't drift.
    """

    def __init__(self, socket: ClientConnection, cancel_on_transcript: bool) -> None:
        self.socket = socket
        self.log: list[Received] = []
        self.cancel_on_transcript = cancel_on_transcript
        self._frames: deque[tuple[bytes, Spoken | None, bool, bool]] = deque()  # pcm, utterance, first, last
        self._texts: deque[str] = deque()
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, url: str, *, cancel_on_transcript: bool = False) -> "VoiceSocket":
        socket = await connect(url, max_size=2**22, open_timeout=30)
        session = cls(socket, cancel_on_transcript)
        ready = json.loads(await asyncio.wait_for(socket.recv(), 30))
        if ready.get("type") != "ready":
            await socket.close()
            raise Refused(ready)
        session._tasks = [asyncio.create_task(session._receive()), asyncio.create_task(session._microphone())]
        return session

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.socket.close(), 5)

    async def configure(self, **fields: Any) -> dict[str, Any]:
        """Send a config frame; returns the server's answer to it: the `config` echo or an `error` event."""
        start = len(self.log)
        self._texts.append(json.dumps({"type": "config", **fields}))
        answer = await self.wait_for(lambda r: r.type in ("config", "error"), timeout=10, start=start)
        if answer is None or answer.event is None:
            raise TimeoutError("no answer to the config frame")
        return answer.event

    async def say(self, pcm: bytes) -> Spoken:
        """Queue an utterance on the microphone; returns once its last frame has been sent."""
        return await self._queue(pcm, Spoken(), FRAME_BYTES)

    async def _queue(self, pcm: bytes, spoken: SpokenT, size: int) -> SpokenT:
        """`pcm` in frames of `size` bytes (the last padded with silence) on the microphone; returns `spoken` once
        the last has been sent."""
        frames = [pcm[i : i + size] for i in range(0, len(pcm), size)]
        frames[-1] = frames[-1].ljust(size, b"\0")
        for index, frame in enumerate(frames):
            self._frames.append((frame, spoken, index == 0, index == len(frames) - 1))
        waiting = asyncio.create_task(spoken.done.wait())
        await asyncio.wait([waiting, self._tasks[1]], return_when=asyncio.FIRST_COMPLETED)
        if not spoken.done.is_set():
            waiting.cancel()
            raise ConnectionError(f"the socket closed while speaking (close code {self.socket.close_code})")
        return spoken

    def send_text(self, payload: dict[str, Any]) -> None:
        self._texts.append(json.dumps(payload))

    async def wait_for(self, predicate: Callable[[Received], bool], timeout: float, start: int = 0) -> Received | None:
        """The first logged frame from index `start` on that matches, waiting up to `timeout` s for it."""
        index = start

        def match() -> Received | None:
            nonlocal index
            while index < len(self.log):  # resumes where the last poll stopped
                if predicate(self.log[index]):
                    return self.log[index]
                index += 1
            return None

        await self.wait_until(lambda: match() is not None, timeout)
        return match()

    async def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Poll `condition` (over `log`) until it holds, the socket closes or `timeout` s pass."""
        deadline = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() >= deadline or self.socket.close_code is not None:
                return condition()
            await asyncio.sleep(0.05)  # arrival times are stamped by the receiver: polling only decides when to stop
        return True

    def turn_settled(self) -> bool:
        """A voice-to-voice turn is over for the benches: answer audio and `final`, a failed turn, or an answer
        with nothing to speak (`final` with no answer, 3 s ago)."""
        final = first(self.log, lambda r: r.type == "final")
        failed = first(self.log, lambda r: r.type == "error" and r.event is not None and "id" in r.event)
        unspoken = final and not (final.event or {}).get("answer") and time.perf_counter() - final.t > 3
        return bool((answer_audio(self.log) and final) or failed or unspoken)

    async def _receive(self) -> None:
        async for message in self.socket:
            now = time.perf_counter()
            if isinstance(message, bytes):
                self.log.append(Received(now, audio_bytes=len(message)))
                continue
            event = json.loads(message)
            self.log.append(Received(now, event))
            if self.cancel_on_transcript and event.get("type") == "transcript":
                self._texts.append(json.dumps({"type": "cancel"}))  # nothing after it is measured: spare the CPU

    async def _microphone(self) -> None:
        due = time.perf_counter()
        while True:
            due += FRAME_S  # a frame leaves when its 20 ms have been "recorded"
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            while self._texts:  # text goes out from this task too: one sender, frames never interleave oddly
                await self.socket.send(self._texts.popleft())
            if self._frames:
                frame, spoken, first, last = self._frames.popleft()
            else:
                frame, spoken, first, last = SILENCE, None, False, False
            await self.socket.send(frame)
            if spoken is not None:
                now = time.perf_counter()
                if first:
                    spoken.onset = now
                if last:
                    spoken.end = now
                    spoken.done.set()


def ms(t: float | None, zero: float) -> float | None:
    return None if t is None else round((t - zero) * 1000, 1)


def first(log: list[Received], predicate: Callable[[Received], bool]) -> Received | None:
    return next((r for r in log if predicate(r)), None)


def of_turn(kind: str, turn: str | None) -> Callable[[Received], bool]:
    return lambda r: r.type == kind and r.event is not None and r.event.get("id") == turn


def audio_frames(log: list[Received]) -> list[tuple[Received, str | None, str]]:
    """Every binary frame with the turn and kind of the `audio.start` it follows (no kind, as today: "answer")."""
    turn: str | None = None
    kind = "answer"
    frames = []
    for r in log:
        if r.event is None:
            frames.append((r, turn, kind))
        elif r.type == "audio.start":
            turn, kind = r.event.get("id"), r.event.get("kind") or "answer"
        elif r.type == "audio.end" and r.event.get("id") == turn:
            turn = None
    return frames


def answer_audio(log: list[Received], turn: str | None = None) -> Received | None:
    return next((r for r, t, k in audio_frames(log) if k == "answer" and (turn is None or t == turn)), None)


@dataclass(frozen=True)
class TurnLog:
    """What times a voice turn in a socket's log: the turn that produced `final` (else the last one heard), its
    transcript, the `speech.stopped` before it, its first audio of any kind and of the answer, and any error."""

    final: Received | None
    transcripts: list[Received]
    turn: str | None
    transcript: Received | None
    stopped: Received | None
    any_audio: Received | None
    answer: Received | None
    error: Received | None

    @classmethod
    def of(cls, log: list[Received]) -> "TurnLog":
        final = first(log, lambda r: r.type == "final")
        transcripts = [r for r in log if r.type == "transcript"]
        answered = final or (transcripts[-1] if transcripts else None)
        turn = (answered.event or {}).get("id") if answered else None
        transcript = first(log, of_turn("transcript", turn))
        stopped = [r for r in log if r.type == "speech.stopped" and (transcript is None or r.t <= transcript.t)]
        return cls(
            final,
            transcripts,
            turn,
            transcript,
            stopped[-1] if stopped else None,
            next((r for r, t, _ in audio_frames(log) if t == turn), None),
            answer_audio(log, turn),
            first(log, lambda r: r.type == "error"),
        )

    def moments(self, zero: float) -> dict[str, Any]:
        """The figures both voice benches report, in ms after `zero` (the end of speech)."""
        transcript, stopped = self.transcript, self.stopped
        return {
            "turns": len(self.transcripts),
            "transcript_text": (transcript.event or {}).get("text") if transcript else None,
            "speech_stopped_ms": ms(stopped.t if stopped else None, zero),
            "speech_stopped_reason": (stopped.event or {}).get("reason") if stopped else None,
            "transcript_ms": ms(transcript.t if transcript else None, zero),
            "first_answer_audio_ms": ms(self.answer.t if self.answer else None, zero),
            "first_audio_any_kind_ms": ms(self.any_audio.t if self.any_audio else None, zero),
            "final_ms": ms(self.final.t if self.final else None, zero),
            "error": self.error.event if self.error else None,
        }
