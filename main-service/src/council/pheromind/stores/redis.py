"""The scale-out pheromone store: Redis hashes with native TTL; a deposit is one Lua script, hence atomic."""

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from council.pheromind.patterns import Trail
from council.pheromind.stores.base import Deposit, PheromoneStore, PheromoneStoreUnavailable

MAX_CONNECTIONS = 32
MAX_LISTED = 2000  # most recently reinforced trails read per listing (the index is swept on every deposit)

# KEYS: trail hash, live index, then one index per topic. ARGV: signature, now, amount, half-life, ttl, source,
# topics JSON, payload JSON ('' keeps the stored payload). Decay is computed here so reinforcement is atomic;
# the script answers the written hash, so a deposit is one round trip.
_DEPOSIT = """
local now, amount, half, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local old = redis.call('HMGET', KEYS[1], 'strength', 'updated', 'deposited', 'expires', 'deposits', 'payload')
local strength, deposited, deposits, payload = amount, now, 1, '{}'
if old[1] and tonumber(old[4]) > now then
  local elapsed = math.max(now - tonumber(old[2]), 0)
  strength = tonumber(old[1]) * (0.5 ^ (elapsed / half)) + amount
  deposited, deposits, payload = tonumber(old[3]), tonumber(old[5]) + 1, old[6]
end
if ARGV[8] ~= '' then payload = ARGV[8] end
local expires = now + ttl
local ttl_ms = math.ceil(ttl * 1000)
redis.call('HSET', KEYS[1], 'strength', string.format('%.17g', strength), 'updated', ARGV[2],
  'deposited', string.format('%.17g', deposited), 'expires', string.format('%.17g', expires), 'ttl', ARGV[5],
  'deposits', tostring(deposits), 'source', ARGV[6], 'topics', ARGV[7], 'payload', payload)
redis.call('PEXPIRE', KEYS[1], ttl_ms)
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], expires, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('PTTL', KEYS[i]) < ttl_ms then redis.call('PEXPIRE', KEYS[i], ttl_ms) end
end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: trail hash, live index, then one index per topic. ARGV: signature, the most deposits it may hold ('' = any).
_WITHDRAW = """
local deposits = redis.call('HGET', KEYS[1], 'deposits')
if not deposits or (ARGV[2] ~= '' and tonumber(deposits) > tonumber(ARGV[2])) then return 0 end
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
"""


def _trail(signature: str, fields: dict[str, str]) -> Trail:
    return Trail(
        signature=signature,
        strength=float(fields["strength"]),
        deposited_at=float(fields["deposited"]),
        updated_at=float(fields["updated"]),
        expires_at=float(fields["expires"]),
        ttl_s=float(fields["ttl"]),
        deposits=int(fields["deposits"]),
        source=fields["source"],
        topics=json.loads(fields["topics"]),
        payload=json.loads(fields["payload"]),
    )


class RedisPheromoneStore(PheromoneStore):
    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str,
        half_life_s: float,
        timeout_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(half_life_s=half_life_s, clock=clock)
        self.key_prefix = key_prefix
        # No retries: when Redis is down, Pheromind degrades at once rather than stalling the turn. A blocking pool
        # makes a burst of concurrent calls wait for a connection instead of failing with "too many connections".
        self._pool = aioredis.BlockingConnectionPool.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            max_connections=MAX_CONNECTIONS,
            timeout=timeout_s,
        )
        self._redis = aioredis.Redis(connection_pool=self._pool)
        self._deposit_script = self._redis.register_script(_DEPOSIT)
        self._withdraw_script = self._redis.register_script(_WITHDRAW)

    def _key(self, *parts: str) -> str:
        return self.key_prefix + ":".join(parts)

    def _trail_keys(self, signature: str, topics: Sequence[str]) -> list[str]:
        """KEYS of both scripts: the trail hash, the live index, then one index per topic."""
        return [self._key("trail", signature), self._key("index"), *(self._key("topic", topic) for topic in topics)]

    async def _guard[T](self, operation: Awaitable[T]) -> T:
        """Any Redis failure degrades Pheromind: not only a lost connection but an error reply too (OOM under
        maxmemory, READONLY from a demoted replica, WRONGTYPE from a foreign key under our prefix)."""
        try:
            return await operation
        except (RedisError, OSError) as error:
            raise PheromoneStoreUnavailable(f"Redis is unavailable: {type(error).__name__}: {error}") from error

    async def _deposit(self, deposit: Deposit) -> Trail:
        args = [
            deposit.signature,
            repr(deposit.now),
            repr(deposit.amount),
            repr(self.half_life_s),
            repr(deposit.ttl_s),
            deposit.source,
            json.dumps(deposit.topics),
            "" if deposit.payload is None else json.dumps(deposit.payload),
        ]
        keys = self._trail_keys(deposit.signature, deposit.topics)
        flat = cast("list[str]", await self._guard(self._deposit_script(keys=keys, args=args)))
        return _trail(deposit.signature, dict(zip(flat[::2], flat[1::2], strict=True)))

    async def _get(self, signature: str, now: float) -> Trail | None:
        fields = cast("dict[str, str]", await self._guard(self._redis.hgetall(self._key("trail", signature))))
        if not fields or float(fields["expires"]) <= now:
            return None
        return _trail(signature, fields)

    async def _live(self, now: float, topic: str | None) -> list[Trail]:
        index = self._key("index") if topic is None else self._key("topic", topic)
        signatures = cast(
            "list[str]",
            await self._guard(self._redis.zrevrangebyscore(index, "+inf", f"({now!r}", start=0, num=MAX_LISTED)),
        )
        async with self._redis.pipeline(transaction=False) as pipe:
            for signature in signatures:
                pipe.hgetall(self._key("trail", signature))
            rows: list[dict[str, str]] = await self._guard(pipe.execute())
        return [
            _trail(signature, fields)
            for signature, fields in zip(signatures, rows, strict=True)
            if fields and float(fields["expires"]) > now
        ]

    async def _withdraw(self, signature: str, *, topics: Sequence[str], at_most: int | None) -> bool:
        args = [signature, "" if at_most is None else str(at_most)]
        return bool(await self._guard(self._withdraw_script(keys=self._trail_keys(signature, topics), args=args)))

    async def ping(self) -> None:
        await self._guard(self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()
        await self._pool.aclose()
