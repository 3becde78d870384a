"""Answer audio leaves at the pace it is played, a lead ahead; a pause holds the rest, a drop forgets it.

The clock is a test clock that only moves when the test says so: with it frozen, exactly the lead's worth of audio
may leave, whatever the machine's speed, so these tests count frames instead of timing anything.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from council.voice.playback import Playback

pytestmark = pytest.mark.anyio

RATE = 24_000
FRAME_S = 0.04
FRAME_BYTES = round(FRAME_S * RATE) * 2
ONE_SECOND = bytes(RATE * 2)

Outgoing = bytes | dict[str, Any]  # the notices here are plain dicts


class Client:
    """What the client received, and a way to wait until it has received a given count."""

    def __init__(self) -> None:
        self.received: list[Outgoing] = []
        self._changed = asyncio.Event()

    async def send(self, payload: Outgoing) -> None:
        self.received.append(payload)
        self._changed.set()

    async def until(self, count: int) -> None:
        while len(self.received) < count:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), 10)

    @property
    def audio_s(self) -> float:
        return sum(len(p) for p in self.received if isinstance(p, bytes)) / (RATE * 2)

    def events(self) -> list[dict[str, Any]]:
        return [p for p in self.received if isinstance(p, dict)]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def play_until(self, done: asyncio.Event) -> None:
        """Let playback time pass, a frame at a time, until `done` (the sender re-checks every few ms of real time)."""
        for _ in range(2000):
            if done.is_set():
                return
            self.now += FRAME_S
            await asyncio.sleep(0.005)
        raise AssertionError("playback never got there")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
async def playback(client: Client, clock: Clock) -> AsyncIterator[Playback[dict[str, Any]]]:
    playback = Playback[dict[str, Any]](client.send, sample_rate=RATE, lead_s=0.2, frame_s=FRAME_S, clock=clock)
    runner = asyncio.create_task(playback.run())
    yield playback
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner


async def test_only_the_lead_leaves_ahead_of_playback_and_the_rest_follows_as_time_passes(
    playback: Playback[dict[str, Any]], client: Client, clock: Clock
) -> None:
    done = asyncio.Event()
    playback.event("t1", {"type": "audio.start"})
    playback.audio("t1", ONE_SECOND)
    playback.event("t1", {"type": "audio.end"})
    playback.marker("t1", done)

    await client.until(1 + 6)  # audio.start, then frames up to the lead (0.2 s) and one more: 6 frames of 40 ms
    frames_at_start = len(client.received) - 1  # the clock stands still: no more can leave
    await clock.play_until(done)

    assert frames_at_start == 6
    assert client.received[0] == {"type": "audio.start"}
    assert client.received[-1] == {"type": "audio.end"}
    assert client.audio_s == pytest.approx(1.0)
    assert all(len(p) == FRAME_BYTES for p in client.received[1:-1] if isinstance(p, bytes))


async def test_a_pause_holds_the_audio_and_a_resume_goes_on_where_it_stopped(
    playback: Playback[dict[str, Any]], client: Client, clock: Clock
) -> None:
    playback.audio("t1", ONE_SECOND)
    await client.until(6)
    playback.pause()
    playback.audio("t1", ONE_SECOND)  # more audio wakes the sender while paused
    clock.now += 5  # however long the pause lasts, the client holds its buffer
    for _ in range(3):  # let the sender look (there is no event for "sent nothing")
        await asyncio.sleep(0)
    held = len(client.received)

    playback.resume()
    done = asyncio.Event()
    playback.marker("t1", done)
    await clock.play_until(done)

    assert held == 6
    assert client.audio_s == pytest.approx(2.0)


async def test_a_dropped_turn_sends_nothing_more_and_releases_its_waiters(
    playback: Playback[dict[str, Any]], client: Client, clock: Clock
) -> None:
    finished = asyncio.Event()
    playback.audio("t1", ONE_SECOND)
    playback.event("t1", {"type": "audio.end"})
    playback.marker("t1", finished)
    await client.until(6)

    playback.drop("t1")
    await asyncio.wait_for(finished.wait(), 10)
    playback.event("t2", {"type": "audio.start", "id": "t2"})
    await client.until(7)
    clock.now += 10

    assert client.audio_s == pytest.approx(6 * FRAME_S)
    assert client.events() == [{"type": "audio.start", "id": "t2"}]


async def test_after_the_client_has_played_everything_a_new_answer_starts_with_a_full_lead(
    playback: Playback[dict[str, Any]], client: Client, clock: Clock
) -> None:
    playback.audio("t1", bytes(FRAME_BYTES * 2))
    await client.until(2)
    clock.now += 60  # long after: the client's buffer ran empty
    playback.audio("t2", ONE_SECOND)
    await client.until(2 + 6)

    assert playback.audible_s() == pytest.approx(6 * FRAME_S)
