"""Pheromind fixtures: every store implementation (Redis is the real one on 127.0.0.1:6379, isolated prefix)."""

import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from council.pheromind.stores.base import PheromoneStore
from council.pheromind.stores.memory import MemoryPheromoneStore
from council.pheromind.stores.redis import RedisPheromoneStore
from tests.pheromind.support import ManualClock

REDIS_URL = "redis://127.0.0.1:6379/0"
HALF_LIFE_S = 6.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix no other run uses; every key under it is deleted afterwards."""
    prefix = f"test:pheromind:{secrets.token_hex(6)}:"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, clock: ManualClock, redis_prefix: str) -> AsyncIterator[PheromoneStore]:
    instance: PheromoneStore
    if request.param == "redis":
        instance = RedisPheromoneStore(REDIS_URL, key_prefix=redis_prefix, half_life_s=HALF_LIFE_S, clock=clock)
    else:
        instance = MemoryPheromoneStore(half_life_s=HALF_LIFE_S, clock=clock)
    try:
        yield instance
    finally:
        await instance.close()
