"""Answer audio to the client at the pace it is heard, a short lead ahead.

The voice service synthesizes many times faster than real time; sending its audio as it comes would fill the
client's buffer with the whole answer, and then neither a pause nor a barge-in could stop what the user hears. So
audio leaves in short frames, at most `lead_s` ahead of playback: what has not been sent yet can still be held
(`pause`), released (`resume`) or dropped (`drop`), and the client never has more than the lead to throw away.
Events queued between frames (an utterance's start and end, in whatever shape the session's protocol wants) leave
in order with them.
"""

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

SAMPLE_WIDTH = 2  # s16le mono


@dataclass
class _Item[Notice]:
    turn_id: str
    payload: bytes | Notice | None  # None: a marker that only sets `reached`
    reached: asyncio.Event = field(default_factory=asyncio.Event)


class Playback[Notice]:
    """Paces audio frames (`bytes`) and the notices (`Notice`) queued between them out through `send`."""

    def __init__(
        self,
        send: Callable[[bytes | Notice], Awaitable[None]],
        *,
        sample_rate: int,
        lead_s: float,
        frame_s: float = 0.04,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._bytes_per_s = sample_rate * SAMPLE_WIDTH
        self._frame_bytes = max(SAMPLE_WIDTH, round(frame_s * sample_rate) * SAMPLE_WIDTH)
        self._lead_s = lead_s
        self._clock = clock
        self._queue: deque[_Item[Notice]] = deque()
        self._wake = asyncio.Event()
        self._paused_at: float | None = None
        self._started = clock()  # when the client began playing what has been sent since
        self._sent_s = 0.0  # seconds of audio sent since `_started`

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def audio(self, turn_id: str, pcm: bytes) -> None:
        for start in range(0, len(pcm), self._frame_bytes):
            self._queue.append(_Item[Notice](turn_id, pcm[start : start + self._frame_bytes]))
        self._wake.set()

    def event(self, turn_id: str, payload: Notice) -> None:
        self._queue.append(_Item[Notice](turn_id, payload))
        self._wake.set()

    def marker(self, turn_id: str, reached: asyncio.Event) -> None:
        """Set `reached` once everything queued before it has been sent (or the turn's items are dropped)."""
        self._queue.append(_Item[Notice](turn_id, None, reached))
        self._wake.set()

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = self._clock()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._started += self._clock() - self._paused_at  # the client held its buffer meanwhile
            self._paused_at = None
            self._wake.set()

    def drop(self, turn_id: str) -> None:
        """Forget what is queued for the turn; its markers are set, so nothing waits for them."""
        kept: deque[_Item[Notice]] = deque()
        for item in self._queue:
            if item.turn_id == turn_id:
                item.reached.set()
            else:
                kept.append(item)
        self._queue = kept
        self._wake.set()

    def audible_s(self) -> float:
        """Seconds of sent audio the client has not played yet (by this pacing's estimate)."""
        now = self._paused_at if self._paused_at is not None else self._clock()
        return max(0.0, self._sent_s - (now - self._started))

    async def run(self) -> None:
        while True:
            self._wake.clear()
            if not self._queue or self.paused:
                await self._wake.wait()
                continue
            item = self._queue[0]
            if isinstance(item.payload, bytes):
                wait = self.audible_s() - self._lead_s
                if wait > 1e-6:  # (sums of frame lengths are not exact)
                    # Woken early by a pause, a drop or new items: look again.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
                    continue
                if self.audible_s() == 0:  # the client has played everything: a new stretch starts now
                    self._started, self._sent_s = self._clock(), 0.0
                self._sent_s += len(item.payload) / self._bytes_per_s
            self._queue.popleft()
            if item.payload is not None:
                await self._send(item.payload)
            item.reached.set()
