"""When a voice socket has been idle too long: what counts as activity is the protocol adapter's call (a ping is
not: issue 26), and an answer being played counts, since the client is listening to it."""

import time
from collections.abc import Callable


class IdleTimer:
    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        self._last = clock()

    def active(self) -> None:
        self._last = self._clock()

    def left_s(self) -> float:
        """Seconds until the socket is idle for too long (0 once it is)."""
        return max(0.0, self._last + self.timeout_s - self._clock())
