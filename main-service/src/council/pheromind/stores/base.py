"""The pheromone store interface: public methods read the clock and apply decay, `_` hooks persist trails."""

import abc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from council.pheromind.patterns import Pheromone, Trail


class PheromoneStoreUnavailable(Exception):
    """The store cannot be reached now; callers degrade (no signal, no cache) instead of failing the turn."""


@dataclass(frozen=True, slots=True)
class Deposit:
    """One deposit as a backend applies it: what `PheromoneStore.deposit` was asked, at `now` by the store's clock."""

    signature: str
    amount: float
    ttl_s: float
    source: str
    topics: list[str]
    payload: dict[str, Any] | None  # None keeps the stored payload
    now: float


class PheromoneStore(abc.ABC):
    backend: str = "abstract"

    def __init__(self, *, half_life_s: float, clock: Callable[[], float] = time.time) -> None:
        self.half_life_s = half_life_s
        self.clock = clock

    async def deposit(
        self,
        signature: str,
        *,
        amount: float,
        ttl_s: float,
        source: str,
        topics: list[str] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Pheromone:
        """Lay or reinforce a trail atomically: strength = decayed strength + amount; TTL restarts.
        A `payload` replaces the stored one; None keeps it."""
        now = self.clock()
        trail = await self._deposit(
            Deposit(signature, amount=amount, ttl_s=ttl_s, source=source, topics=topics or [], payload=payload, now=now)
        )
        return Pheromone.read(trail, now, self.half_life_s)

    async def get(self, signature: str) -> Pheromone | None:
        now = self.clock()
        trail = await self._get(signature, now)
        return None if trail is None else Pheromone.read(trail, now, self.half_life_s)

    async def strength(self, signature: str) -> float:
        pheromone = await self.get(signature)
        return 0.0 if pheromone is None else pheromone.strength

    async def strongest(
        self, limit: int = 10, *, topic: str | None = None, prefixes: tuple[str, ...] = ("",)
    ) -> list[Pheromone]:
        """Live trails by decayed strength, strongest first; only those tagged with `topic` when given, and only
        those whose signature starts with one of `prefixes`."""
        now = self.clock()
        trails = await self._live(now, topic)
        read = [
            Pheromone.read(trail, now, self.half_life_s) for trail in trails if trail.signature.startswith(prefixes)
        ]
        read.sort(key=lambda pheromone: (-pheromone.strength, pheromone.signature))
        return read[:limit]

    async def withdraw(self, signature: str, *, topics: Sequence[str] = (), at_most: int | None = None) -> bool:
        """Delete a trail at once (what it derived from is deleted), atomically; with `at_most`, only when it holds
        no more deposits than that, so that every one it holds may be one being withdrawn. `topics`: the topics
        it was laid with. True when it was deleted."""
        return await self._withdraw(signature, topics=topics, at_most=at_most)

    @abc.abstractmethod
    async def _deposit(self, deposit: Deposit) -> Trail:
        """Lay the trail, or reinforce it when it is alive at `deposit.now`, in one atomic step."""

    @abc.abstractmethod
    async def _get(self, signature: str, now: float) -> Trail | None:
        """The trail unless it has evaporated by `now`."""

    @abc.abstractmethod
    async def _live(self, now: float, topic: str | None) -> list[Trail]:
        """Every trail alive at `now` (tagged with `topic` when given), in any order."""

    @abc.abstractmethod
    async def _withdraw(self, signature: str, *, topics: Sequence[str], at_most: int | None) -> bool: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise PheromoneStoreUnavailable if the store cannot serve now."""

    @abc.abstractmethod
    async def close(self) -> None: ...
