"""Per-client rate limits by route class and a per-client budget of model calls, in-process or in Redis (shared by
replicas), answered with 429."""

import math
import time

import redis.asyncio
import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from council.auth import LOCAL, caller_in
from council.errors import CouncilError, ErrorCode, InvalidRequestError
from council.http_errors import error_response
from council.settings import RateLimitSettings

log = structlog.get_logger(__name__)

_EXEMPT_PREFIXES = ("/health/", "/metrics")
STORE_RETRY_S = 5.0  # how long an unreachable rate-limit store is left alone before it is tried again
_ROUTE_CLASSES = (("/api/chat", "chat"), ("/v1/chat/", "chat"), ("/api/voice/", "voice"), ("/api/kip/", "kip"))


class OverBudgetError(CouncilError):
    """The client has started as many model calls in the window as it may (COUNCIL_RATE_LIMIT__MODEL_CALLS)."""

    status_code = 429
    code = ErrorCode.RATE_LIMITED


def client_key(scope: Scope) -> str:
    """The bucket of the caller a configured key named (see `council.auth`), else of the client's IP: the one key of
    every per-client limit and cap (rates, model calls, turns, voice sessions).

    Users behind one NAT who hold keys don't share their IP's bucket; a key that names no one was refused
    before this, so a client cannot dodge its limit (or grow the bucket store) by rotating made-up keys.
    The caller's name, not the key, names the bucket: bucket names land in Redis, keys must not.
    """
    found = caller_in(scope)
    if found is not None and found is not LOCAL:
        return f"caller:{found.name}"
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


def route_class(path: str) -> str:
    for prefix, name in _ROUTE_CLASSES:
        if path.startswith(prefix):
            return name
    return "default"


class RateLimiter:
    """Moving-window limits; a Redis outage falls back to in-process buckets instead of failing requests."""

    def __init__(self, settings: RateLimitSettings) -> None:
        self.items: dict[str, RateLimitItem] = {
            name: parse(getattr(settings, name)) for name in ("chat", "voice", "kip", "default")
        }
        self.model_calls = parse(settings.model_calls)
        self._fallback = MovingWindowRateLimiter(MemoryStorage())
        # Our own pool with short timeouts: a paused Redis must cost a request milliseconds, not seconds.
        self._pool = (
            redis.asyncio.ConnectionPool.from_url(settings.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
            if settings.redis_url
            else None
        )
        storage: Storage = (
            RedisStorage(  # limits types **options as scalars; a redis-py pool is what it documents for this
                "async+redis://",
                implementation="redispy",
                key_prefix="council-rl",
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
            if self._pool is not None
            else MemoryStorage()
        )
        self._primary = MovingWindowRateLimiter(storage)
        self._degraded_since: float | None = None
        # After a store failure, requests use local buckets for a while instead of each paying the timeout again.
        self._retry_store_at = 0.0

    def _store_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._degraded_since is None:
            log.warning("rate_limit_store_unavailable", error=f"{type(exc).__name__}: {exc}", fallback="in-process")
            self._degraded_since = now
        self._retry_store_at = now + STORE_RETRY_S

    def _store_answered(self) -> None:
        if self._degraded_since is not None:
            log.info("rate_limit_store_recovered", degraded_for_s=round(time.monotonic() - self._degraded_since, 1))
            self._degraded_since = None

    client_key = staticmethod(client_key)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def hit_turn(self, scope: Scope) -> tuple[int, str] | None:
        """Count one turn of a socket (/ws/chat, /ws/voice) against its client's chat limit, in the same bucket as
        the client's REST chat requests, so a socket is no way around it. None when allowed, else the seconds to
        wait and what to tell the client."""
        retry_after = await self.hit("chat", self.client_key(scope))
        if retry_after is None:
            return None
        log.info("rate_limited", route_class="chat", retry_after_s=retry_after)
        return (
            retry_after,
            f"Too many chat turns: the limit is {self.items['chat']} per client. Retry in {retry_after} s.",
        )

    async def charge_calls(self, client: str, calls: int) -> None:
        """Charge an admitted turn's model calls to its client (`council.orchestrator.CallBudget`); 429 with
        Retry-After when its window has not that many left, 422 for a turn that costs more than a whole window."""
        limit = self.model_calls
        if calls > limit.amount:
            raise InvalidRequestError(
                f"This turn may make {calls} model calls, more than a client may start in a whole window ({limit}, "
                "COUNCIL_RATE_LIMIT__MODEL_CALLS); ask fewer members or leave review_round and ranking off."
            )
        retry_after = await self._hit(limit, "model_calls", client, cost=calls)
        if retry_after is None:
            return
        log.info("over_model_call_budget", calls=calls, retry_after_s=retry_after)
        raise OverBudgetError(
            f"This turn may make {calls} model calls, more than you have left of {limit} "
            f"(COUNCIL_RATE_LIMIT__MODEL_CALLS). Retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )

    async def hit(self, route: str, client: str) -> int | None:
        """Count one request; None when allowed, else the seconds until the client may retry."""
        return await self._hit(self.items[route], route, client)

    async def _hit(self, item: RateLimitItem, namespace: str, client: str, *, cost: int = 1) -> int | None:
        limiter = self._fallback
        if time.monotonic() >= self._retry_store_at:
            try:
                allowed = await self._primary.hit(item, namespace, client, cost=cost)
                limiter = self._primary
            except Exception as exc:  # any storage failure (connection, timeout): keep serving with local buckets
                self._store_failed(exc)
            else:
                self._store_answered()
        if limiter is self._fallback:
            allowed = await limiter.hit(item, namespace, client, cost=cost)
        if allowed:
            return None
        reset_at, _ = await limiter.get_window_stats(item, namespace, client)
        return max(1, math.ceil(reset_at - time.time()))


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(_EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        route = route_class(scope["path"])
        retry_after = await self.limiter.hit(route, self.limiter.client_key(scope))
        if retry_after is None:
            await self.app(scope, receive, send)
            return
        log.info("rate_limited", route_class=route, retry_after_s=retry_after)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "rate limited"})
            return
        limit = self.limiter.items[route]
        message = f"Too many {route} requests: the limit is {limit} per client. Retry in {retry_after} s."
        response = error_response(429, ErrorCode.RATE_LIMITED, message, {"Retry-After": str(retry_after)})
        await response(scope, receive, send)
