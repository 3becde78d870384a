"""Pheromind's uses: router signal, cached answers within the TTL (per scope, never listed), and degradation."""

import io
import logging
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
import structlog

from council.health import HealthStatus
from council.observability.logs import configure_logging
from council.pheromind import Pheromind, normalize, question_signature, topics
from council.pheromind.patterns import answer_signature
from council.pheromind.stores.base import PheromoneStore
from council.pheromind.stores.memory import MemoryPheromoneStore
from council.pheromind.stores.redis import RedisPheromoneStore
from council.settings import LogSettings, PheromindSettings
from tests.conftest import closed_port
from tests.pheromind.support import ManualClock

pytestmark = pytest.mark.anyio

SETTINGS = PheromindSettings(ttl_s=12.0, half_life_s=6.0, hot_threshold=2.5)


@pytest.fixture
def pheromind(store: PheromoneStore) -> Pheromind:
    return Pheromind(store, SETTINGS)


def test_normalization_folds_case_punctuation_and_spacing() -> None:
    assert normalize("  What IS   Redis?! ") == normalize("what is redis") == "what is redis"
    assert question_signature("What is Redis?", "alice") == question_signature("what is redis", "alice")
    assert question_signature("What is Redis?", "alice") != question_signature("What is Valkey?", "alice")
    assert question_signature("What is Redis?", "alice") != question_signature("What is Redis?", "bob")
    assert topics("What is the best way to cache Redis answers?") == ["best", "way", "cache"]


async def test_an_identical_question_within_the_ttl_gets_the_cached_answer(
    pheromind: Pheromind, clock: ManualClock
) -> None:
    await pheromind.store_answer("What is Redis?", scope="alice", answer="An in-memory store.", path="fast")
    clock.advance(5)

    cached = await pheromind.cached_answer("what is  redis", scope="alice")

    assert cached is not None
    assert (cached.answer, cached.path, cached.age_s) == ("An in-memory store.", "fast", pytest.approx(5))
    assert await pheromind.cached_answer("What is Valkey?", scope="alice") is None


async def test_a_cached_answer_is_its_scopes_alone_and_never_listed_as_a_trail(
    pheromind: Pheromind, store: PheromoneStore
) -> None:
    await pheromind.store_answer("What is my PIN?", scope="alice", answer="Your PIN is 4711.", path="fast")
    await pheromind.store_answer("What is my PIN?", scope="mallory", answer="Ask mallory.", path="fast")

    assert await pheromind.cached_answer("What is my PIN?", scope="bob") is None
    alice = await pheromind.cached_answer("what is my pin", scope="alice")
    assert alice is not None
    assert alice.answer == "Your PIN is 4711."  # mallory's answer to the same words did not overwrite it
    assert await pheromind.trails(100) == []
    assert all("4711" not in str(trail.payload) for trail in await store.strongest(100, prefixes=("q:", "t:")))


async def test_a_cached_answer_expires_at_the_ttl_even_if_the_trail_is_reinforced(
    pheromind: Pheromind, store: PheromoneStore, clock: ManualClock
) -> None:
    await pheromind.store_answer("What is Redis?", scope="alice", answer="An in-memory store.", path="fast")
    clock.advance(8)
    await pheromind.record_turn("What is Redis?", scope="alice")  # a turn answered from the cache
    clock.advance(5)

    assert await store.get(question_signature("What is Redis?", "alice")) is not None
    assert await pheromind.cached_answer("What is Redis?", scope="alice") is None


async def test_a_recurring_topic_becomes_hot_then_cools_down(pheromind: Pheromind, clock: ManualClock) -> None:
    cold = await pheromind.signal("How do Redis streams work?", scope="alice")
    for question in ("Redis streams vs lists?", "Why is Redis fast?", "Redis persistence options?"):
        await pheromind.record_turn(question, scope="alice")

    hot = await pheromind.signal("How do Redis streams work?", scope="alice")
    clock.advance(6)
    cooled = await pheromind.signal("How do Redis streams work?", scope="alice")

    assert (cold.hot, cold.available, cold.strength) == (False, True, 0.0)
    assert (hot.hot, hot.topic, hot.topic_strength) == (True, "redis", 3.0)
    assert "hot trail" in hot.reason
    assert (cooled.hot, cooled.topic_strength) == (False, pytest.approx(1.5))
    assert [p.signature for p in await pheromind.trails(1)] == ["t:alice/redis"]


async def test_trails_are_per_caller_so_one_clients_questions_never_heat_anothers_topic(pheromind: Pheromind) -> None:
    for question in ("Redis streams vs lists?", "Why is Redis fast?", "Redis persistence options?"):
        await pheromind.record_turn(question, scope="alice")

    mallory = await pheromind.signal("How do Redis streams work?", scope="mallory")

    assert (mallory.hot, mallory.strength, mallory.topic_strength) == (False, 0.0, 0.0)
    assert "3.00" not in mallory.reason
    assert await pheromind.strength("Why is Redis fast?", scope="alice") == 3.0
    assert await pheromind.strength("Why is Redis fast?", scope="mallory") == 0.0


async def test_answers_larger_than_the_payload_cap_are_not_cached(clock: ManualClock) -> None:
    pheromind = Pheromind(MemoryPheromoneStore(half_life_s=6.0, clock=clock), PheromindSettings(max_payload_bytes=256))
    await pheromind.store_answer("Write an essay", scope="alice", answer="x" * 1000, path="fast")
    assert await pheromind.cached_answer("Write an essay", scope="alice") is None


@pytest.fixture
def service_logs() -> Iterator[io.StringIO]:
    """The service's JSON log lines, written to a buffer for one test; the previous logging setup comes back after."""
    saved_config, root = structlog.get_config(), logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging(LogSettings(format="json"), service="main")
    buffer = io.StringIO()
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    structlog.configure(**saved_config)
    root.handlers[:], root.level = saved_handlers, saved_level


def events(logs: io.StringIO, name: str) -> int:
    return sum(f'"event": "{name}"' in line for line in logs.getvalue().splitlines())


async def test_redis_down_degrades_to_no_cache_no_signal_with_a_log_line_and_a_warn(
    service_logs: io.StringIO,
) -> None:
    store = RedisPheromoneStore(f"redis://127.0.0.1:{closed_port()}/0", key_prefix="x:", half_life_s=6.0)
    pheromind = Pheromind(store, SETTINGS)
    try:
        await pheromind.record_turn("What is Redis?", scope="alice")
        await pheromind.store_answer("What is Redis?", scope="alice", answer="An in-memory store.", path="fast")
        signal = await pheromind.signal("What is Redis?", scope="alice")
        cached = await pheromind.cached_answer("What is Redis?", scope="alice")
        trails = await pheromind.trails()
        check = await pheromind.readiness_check()
    finally:
        await store.close()

    assert (signal.available, signal.hot, cached, trails) == (False, False, None, [])
    assert pheromind.degraded
    assert events(service_logs, "pheromind_degraded") == 1  # one line per outage, not one per call
    assert (check.status, check.critical, check.effective_status()) == (HealthStatus.WARN, False, HealthStatus.WARN)
    assert "degraded" in check.output


async def test_an_error_reply_degrades_like_an_outage(redis_prefix: str, service_logs: io.StringIO) -> None:
    store = RedisPheromoneStore("redis://127.0.0.1:6379/0", key_prefix=redis_prefix, half_life_s=6.0)
    pheromind = Pheromind(store, SETTINGS)
    client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        # The question's trail key holds a string: every read of it is a WRONGTYPE error reply.
        for signature in (question_signature("What is Redis?", "alice"), answer_signature("What is Redis?", "alice")):
            await client.set(f"{redis_prefix}trail:{signature}", "foreign", ex=60)
        signal = await pheromind.signal("What is Redis?", scope="alice")  # the router's read: must not fail the turn
        await pheromind.store_answer("What is Redis?", scope="alice", answer="An in-memory store.", path="fast")
        cached = await pheromind.cached_answer("What is Redis?", scope="alice")
    finally:
        await client.aclose()
        await store.close()

    assert (signal.available, signal.hot, cached) == (False, False, None)
    assert pheromind.degraded
    assert events(service_logs, "pheromind_degraded") == 1


async def test_pheromind_recovers_when_the_store_answers_again(
    redis_prefix: str, clock: ManualClock, service_logs: io.StringIO
) -> None:
    store = RedisPheromoneStore(f"redis://127.0.0.1:{closed_port()}/0", key_prefix=redis_prefix, half_life_s=6.0)
    pheromind = Pheromind(store, SETTINGS)
    assert (await pheromind.readiness_check()).status is HealthStatus.WARN
    await store.close()
    pheromind.store = RedisPheromoneStore(
        "redis://127.0.0.1:6379/0", key_prefix=redis_prefix, half_life_s=6.0, clock=clock
    )
    try:
        check = await pheromind.readiness_check()
        await pheromind.store_answer("What is Redis?", scope="alice", answer="An in-memory store.", path="fast")
        assert check.status is HealthStatus.PASS
        assert not pheromind.degraded
        assert events(service_logs, "pheromind_recovered") == 1
        assert await pheromind.cached_answer("What is Redis?", scope="alice") is not None
    finally:
        await pheromind.store.close()


async def test_the_orchestrator_seams_lay_trails_and_read_strength(pheromind: Pheromind) -> None:
    await pheromind.record_turn("What is Redis?", scope="alice")
    await pheromind.record_turn("/agent mathy 1+1", scope="alice")
    assert await pheromind.strength("what is redis", scope="alice") == 1.0
    # A turn lays trails only: which answers may be kept is the orchestrator's call (store_answer).
    assert await pheromind.cached_answer("What is Redis?", scope="alice") is None

    # Serving a cached answer reinforces the trail; the answer's own life is not extended.
    await pheromind.store_answer("What is Redis?", scope="alice", answer="An in-memory store.", path="fast")
    cached = await pheromind.cached_answer("What is Redis?", scope="alice")
    await pheromind.record_turn("What is Redis?", scope="alice")
    assert await pheromind.strength("what is redis", scope="alice") > 1.0
    again = await pheromind.cached_answer("What is Redis?", scope="alice")
    assert cached is not None
    assert again is not None
    assert again.age_s >= cached.age_s


async def test_forgetting_a_thread_deletes_its_cached_answer_and_the_trails_only_it_laid(
    pheromind: Pheromind, store: PheromoneStore
) -> None:
    # alice's thread: its first turn kept its answer; alice asked its second question again in another thread, and
    # bob asked both in his own.
    await pheromind.store_answer("What is my PIN?", scope="alice", answer="Your PIN is 4711.", path="fast")
    await pheromind.store_answer("What is my PIN?", scope="bob", answer="Ask bob.", path="fast")
    for question in ("What is my PIN?", "Which zipcode is mine?", "Which zipcode is mine?"):
        await pheromind.record_turn(question, scope="alice")
    for question in ("What is my PIN?", "Which zipcode is mine?"):
        await pheromind.record_turn(question, scope="bob")

    await pheromind.forget_thread("t-1", owner="alice", questions=["What is my PIN?", "Which zipcode is mine?"])

    assert await pheromind.cached_answer("What is my PIN?", scope="alice") is None
    assert await pheromind.cached_answer("What is my PIN?", scope="bob") is not None  # bob's own
    assert await store.get(question_signature("What is my PIN?", "alice")) is None
    assert await store.get(question_signature("Which zipcode is mine?", "alice")) is not None  # her other thread's
    # "pin" came from this thread alone; "zipcode" and "mine" were reinforced by alice's other thread; bob's stay.
    bobs = {question_signature("What is my PIN?", "bob"), question_signature("Which zipcode is mine?", "bob")}
    assert {trail.signature for trail in await pheromind.trails(100)} == {
        question_signature("Which zipcode is mine?", "alice"),
        "t:alice/zipcode",
        "t:alice/mine",
        *bobs,
        "t:bob/pin",
        "t:bob/zipcode",
        "t:bob/mine",
    }


async def test_forgetting_a_thread_with_redis_down_is_logged_and_does_not_fail(service_logs: io.StringIO) -> None:
    store = RedisPheromoneStore(f"redis://127.0.0.1:{closed_port()}/0", key_prefix="x:", half_life_s=6.0)
    pheromind = Pheromind(store, SETTINGS)
    try:
        await pheromind.forget_thread("t-1", owner="alice", questions=["What is my PIN?"])
    finally:
        await store.close()

    assert pheromind.degraded
    assert events(service_logs, "pheromind_forget_failed") == 1
