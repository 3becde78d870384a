"""What only the Redis store does: native TTL on every key it writes, and refusing fast when Redis is down or
answers with an error."""

import time

import pytest
import redis.asyncio as aioredis

from council.pheromind.stores.base import PheromoneStoreUnavailable
from council.pheromind.stores.redis import RedisPheromoneStore
from tests.conftest import closed_port
from tests.pheromind.conftest import REDIS_URL

pytestmark = pytest.mark.anyio


async def test_every_key_carries_a_native_ttl(redis_prefix: str) -> None:
    store = RedisPheromoneStore(REDIS_URL, key_prefix=redis_prefix, half_life_s=6.0)
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await store.deposit("q:1", amount=1.0, ttl_s=12.0, source="test", topics=["redis"])
        keys = sorted([key async for key in client.scan_iter(match=f"{redis_prefix}*")])
        ttls = [await client.pttl(key) for key in keys]
    finally:
        await client.aclose()
        await store.close()

    assert keys == [f"{redis_prefix}index", f"{redis_prefix}topic:redis", f"{redis_prefix}trail:q:1"]
    assert all(0 < ttl <= 12_000 for ttl in ttls)


async def test_an_unreachable_redis_is_reported_fast_as_unavailable() -> None:
    store = RedisPheromoneStore(
        f"redis://127.0.0.1:{closed_port()}/0", key_prefix="unused:", half_life_s=6.0, timeout_s=0.5
    )
    started = time.monotonic()
    try:
        with pytest.raises(PheromoneStoreUnavailable):
            await store.ping()
        with pytest.raises(PheromoneStoreUnavailable):
            await store.deposit("q:1", amount=1.0, ttl_s=12.0, source="test")
        with pytest.raises(PheromoneStoreUnavailable):
            await store.strongest()
    finally:
        await store.close()
    assert time.monotonic() - started < 3


async def test_an_error_reply_from_redis_is_reported_as_unavailable(redis_prefix: str) -> None:
    # A real error reply without touching the shared server's config: a string where the store keeps hashes and
    # sorted sets answers WRONGTYPE, a ResponseError like OOM (maxmemory) and READONLY (a demoted replica).
    store = RedisPheromoneStore(REDIS_URL, key_prefix=redis_prefix, half_life_s=6.0)
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await client.set(f"{redis_prefix}trail:q:1", "not a hash", ex=60)
        await client.set(f"{redis_prefix}index", "not a sorted set", ex=60)
        with pytest.raises(PheromoneStoreUnavailable, match="WRONGTYPE"):
            await store.get("q:1")
        with pytest.raises(PheromoneStoreUnavailable, match="WRONGTYPE"):
            await store.deposit("q:1", amount=1.0, ttl_s=12.0, source="test")
        with pytest.raises(PheromoneStoreUnavailable, match="WRONGTYPE"):
            await store.strongest()
    finally:
        await client.aclose()
        await store.close()
