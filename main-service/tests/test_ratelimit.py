"""Rate limits per client and route class: in-process, in the real Redis, and falling back when Redis is down."""

import uuid

import pytest
from pydantic import SecretStr
from starlette.types import Scope

from council.app import create_app
from council.auth import ADMIN, LOCAL, Caller
from council.ratelimit import RateLimiter, route_class
from council.settings import RateLimitSettings, Settings
from tests.conftest import client_to, closed_port

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/chat", "chat"),
        ("/api/chat/stream", "chat"),
        ("/v1/chat/completions", "chat"),
        ("/api/voice/speak", "voice"),
        ("/api/kip/transfers", "kip"),
        ("/api/conversations", "default"),
    ],
)
def test_routes_fall_into_their_class(path: str, expected: str) -> None:
    assert route_class(path) == expected


async def test_over_limit_gets_429_with_retry_after_and_health_stays_open(settings: Settings) -> None:
    settings.rate_limit.default = "3/minute"
    async with client_to(create_app(settings)) as client:
        statuses = [(await client.get("/no/such/route")).status_code for _ in range(4)]
        limited = await client.get("/no/such/route")
        health = await client.get("/health/live")

    assert statuses == [404, 404, 404, 429]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert health.status_code == 200  # probes are never limited


async def test_made_up_keys_share_their_ip_bucket_and_only_a_configured_key_gets_its_own(settings: Settings) -> None:
    settings.rate_limit.default = "3/minute"
    settings.auth.api_key = SecretStr("the-real-key")
    async with client_to(create_app(settings)) as client:
        # A client rotating random keys is still one client (its IP): refused, and limited after 3 like anyone.
        rotating = [
            (await client.get("/no/such/route", headers={"X-API-Key": uuid.uuid4().hex})).status_code for _ in range(4)
        ]
        bearer = await client.get("/no/such/route", headers={"Authorization": f"Bearer {uuid.uuid4().hex}"})
        # The configured key, either way it may be sent, counts in a bucket of its own.
        keyed = [
            (await client.get("/no/such/route", headers=headers)).status_code
            for headers in ({"X-API-Key": "the-real-key"}, {"Authorization": "Bearer the-real-key"})
        ]

    assert rotating == [401, 401, 401, 429]
    assert bearer.status_code == 429
    assert keyed == [404, 404]


def test_the_bucket_is_the_verified_callers_else_the_ip() -> None:
    limiter = RateLimiter(RateLimitSettings())

    def scope(caller: Caller | None) -> Scope:
        return {"type": "http", "headers": [], "client": ("203.0.113.7", 5000), "council.caller": caller}

    assert limiter.client_key(scope(Caller("alice", admin=False))) == "caller:alice"  # a name, never the key
    assert limiter.client_key(scope(ADMIN)) == "caller:admin"
    assert limiter.client_key(scope(None)) == "ip:203.0.113.7"  # no valid key: the address
    assert limiter.client_key(scope(LOCAL)) == "ip:203.0.113.7"  # no keys configured: everyone is local


async def test_redis_buckets_are_shared_between_limiters() -> None:
    # Two limiters stand for two replicas; the real Redis on 127.0.0.1:6379 holds the shared window.
    settings = RateLimitSettings(redis_url="redis://127.0.0.1:6379/0", chat="2/minute")
    first, second = RateLimiter(settings), RateLimiter(settings)
    client = f"test-{uuid.uuid4().hex}"

    try:
        assert await first.hit("chat", client) is None
        assert await second.hit("chat", client) is None
        assert await first.hit("chat", client) is not None
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_down_falls_back_to_in_process_buckets() -> None:
    limiter = RateLimiter(RateLimitSettings(redis_url=f"redis://127.0.0.1:{closed_port()}/0", chat="1/minute"))

    try:
        assert await limiter.hit("chat", "client") is None  # served, although Redis refused the connection
        assert await limiter.hit("chat", "client") is not None  # and still limited, by the local bucket
    finally:
        await limiter.aclose()


async def test_an_unreachable_store_is_left_alone_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    # A paused Redis costs its full socket timeout per try; after one failure the limiter must not retry per request.
    limiter = RateLimiter(RateLimitSettings(redis_url=f"redis://127.0.0.1:{closed_port()}/0", chat="100/minute"))
    tries = 0
    real_hit = limiter._primary.hit

    async def counted_hit(*args: object, **kwargs: object) -> bool:
        nonlocal tries
        tries += 1
        return await real_hit(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(limiter._primary, "hit", counted_hit)
    try:
        for _ in range(5):
            assert await limiter.hit("chat", "client") is None
        assert tries == 1
        limiter._retry_store_at = 0.0  # the back-off has passed
        await limiter.hit("chat", "client")
        assert tries == 2
    finally:
        await limiter.aclose()
