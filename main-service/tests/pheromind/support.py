"""Pheromind test support: a clock the test moves, and the store implementations under contract."""

import time


class ManualClock:
    """Seconds since the epoch, starting now and moving only when told to."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
