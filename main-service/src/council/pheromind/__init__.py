"""Pheromind: short-lived trails left by each turn, read by the router and used as a marked answer cache."""

import contextlib
from collections.abc import AsyncIterator

from council.pheromind.patterns import Pheromone, normalize, question_signature, topics
from council.pheromind.service import CachedAnswer, Pheromind, TrailSignal
from council.pheromind.stores.base import PheromoneStore, PheromoneStoreUnavailable
from council.pheromind.stores.memory import MemoryPheromoneStore
from council.pheromind.stores.redis import RedisPheromoneStore
from council.settings import PheromindSettings

__all__ = [
    "CachedAnswer",
    "Pheromind",
    "Pheromone",
    "PheromoneStore",
    "PheromoneStoreUnavailable",
    "TrailSignal",
    "build_store",
    "normalize",
    "open_pheromind",
    "question_signature",
    "topics",
]


def build_store(settings: PheromindSettings) -> PheromoneStore:
    if settings.backend == "redis":
        return RedisPheromoneStore(
            settings.redis_url,
            key_prefix=settings.key_prefix,
            half_life_s=settings.half_life_s,
            timeout_s=settings.redis_timeout_s,
        )
    return MemoryPheromoneStore(half_life_s=settings.half_life_s)


@contextlib.asynccontextmanager
async def open_pheromind(settings: PheromindSettings) -> AsyncIterator[Pheromind]:
    """Never fails on an unreachable Redis: Pheromind starts degraded and retries on later calls."""
    pheromind = Pheromind(build_store(settings), settings)
    await pheromind.readiness_check()  # logs `pheromind_degraded` at startup when Redis is down
    try:
        yield pheromind
    finally:
        await pheromind.store.close()
