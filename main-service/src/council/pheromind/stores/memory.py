"""The embedded pheromone store: a dict in this process; no awaits inside an update, so each one is atomic."""

import time
from collections.abc import Callable, Sequence

from council.pheromind.patterns import Trail, decayed
from council.pheromind.stores.base import Deposit, PheromoneStore

MAX_TRAILS = 10_000  # beyond this, evaporated trails are swept, then the weakest dropped


class MemoryPheromoneStore(PheromoneStore):
    backend = "memory"

    def __init__(self, *, half_life_s: float, clock: Callable[[], float] = time.time) -> None:
        super().__init__(half_life_s=half_life_s, clock=clock)
        self._trails: dict[str, Trail] = {}

    async def _deposit(self, deposit: Deposit) -> Trail:
        now = deposit.now
        previous = self._trails.get(deposit.signature)
        if previous is not None and previous.expires_at <= now:
            previous = None
        if previous is None and len(self._trails) >= MAX_TRAILS:
            self._sweep(now)
        trail = Trail(
            signature=deposit.signature,
            strength=deposit.amount
            + (0.0 if previous is None else decayed(previous.strength, now - previous.updated_at, self.half_life_s)),
            deposited_at=now if previous is None else previous.deposited_at,
            updated_at=now,
            expires_at=now + deposit.ttl_s,
            ttl_s=deposit.ttl_s,
            deposits=1 if previous is None else previous.deposits + 1,
            source=deposit.source,
            topics=deposit.topics,
            payload=deposit.payload if deposit.payload is not None else ({} if previous is None else previous.payload),
        )
        self._trails[deposit.signature] = trail
        return trail

    def _sweep(self, now: float) -> None:
        self._trails = {sig: trail for sig, trail in self._trails.items() if trail.expires_at > now}
        if len(self._trails) >= MAX_TRAILS:
            weakest = min(
                self._trails.values(), key=lambda t: decayed(t.strength, now - t.updated_at, self.half_life_s)
            )
            del self._trails[weakest.signature]

    async def _get(self, signature: str, now: float) -> Trail | None:
        trail = self._trails.get(signature)
        if trail is None or trail.expires_at <= now:
            return None
        return trail

    async def _live(self, now: float, topic: str | None) -> list[Trail]:
        return [
            trail
            for trail in self._trails.values()
            if trail.expires_at > now and (topic is None or topic in trail.topics)
        ]

    async def _withdraw(self, signature: str, *, topics: Sequence[str], at_most: int | None) -> bool:
        trail = self._trails.get(signature)
        if trail is None or (at_most is not None and trail.deposits > at_most):
            return False
        del self._trails[signature]
        return True

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._trails.clear()
