"""The contract of every pheromone store: deposit, reinforce, decay, evaporate, query, atomic under concurrency."""

import asyncio

import pytest

from council.pheromind.stores.base import PheromoneStore
from tests.pheromind.conftest import HALF_LIFE_S
from tests.pheromind.support import ManualClock

pytestmark = pytest.mark.anyio

TTL = 12.0


async def lay(store: PheromoneStore, signature: str, **extra: object) -> None:
    await store.deposit(signature, amount=1.0, ttl_s=TTL, source="test", **extra)  # type: ignore[arg-type]


async def test_a_deposit_lays_a_trail_that_can_be_read(store: PheromoneStore, clock: ManualClock) -> None:
    laid = await store.deposit("q:1", amount=1.0, ttl_s=TTL, source="chat", topics=["redis"], payload={"a": 1})

    read = await store.get("q:1")

    assert read is not None
    assert (read.strength, read.deposits, read.source, read.topics, read.payload) == (
        1.0,
        1,
        "chat",
        ["redis"],
        {"a": 1},
    )
    assert read.deposited_at == pytest.approx(clock())
    assert read.expires_in_s == pytest.approx(TTL)
    assert laid.strength == 1.0
    assert await store.get("q:unknown") is None
    assert await store.strength("q:unknown") == 0.0


async def test_strength_decays_exponentially_with_the_half_life(store: PheromoneStore, clock: ManualClock) -> None:
    await lay(store, "q:1")

    clock.advance(HALF_LIFE_S)
    assert await store.strength("q:1") == pytest.approx(0.5)
    clock.advance(HALF_LIFE_S / 2)
    assert await store.strength("q:1") == pytest.approx(0.5**1.5)


async def test_reinforcement_adds_to_the_decayed_strength_and_restarts_the_ttl(
    store: PheromoneStore, clock: ManualClock
) -> None:
    await lay(store, "q:1")
    first = await store.get("q:1")
    clock.advance(HALF_LIFE_S)
    await lay(store, "q:1")
    clock.advance(TTL - 1)  # past the first deposit's TTL, inside the second's

    read = await store.get("q:1")

    assert read is not None
    assert first is not None
    assert read.deposits == 2
    assert read.deposited_at == pytest.approx(first.deposited_at)
    assert read.strength == pytest.approx(1.5 * 0.5 ** ((TTL - 1) / HALF_LIFE_S))


async def test_a_trail_evaporates_at_its_ttl_and_a_later_deposit_starts_fresh(
    store: PheromoneStore, clock: ManualClock
) -> None:
    await lay(store, "q:1", topics=["redis"])
    clock.advance(TTL)

    assert await store.get("q:1") is None
    assert await store.strongest() == []
    assert await store.strongest(topic="redis") == []
    await lay(store, "q:1")
    read = await store.get("q:1")
    assert read is not None
    assert (read.deposits, read.strength) == (1, 1.0)
    assert read.deposited_at == pytest.approx(clock())


async def test_strongest_orders_live_trails_and_filters_by_topic(store: PheromoneStore, clock: ManualClock) -> None:
    for _ in range(3):
        await lay(store, "q:hot", topics=["redis", "cache"])
    await lay(store, "q:warm", topics=["redis"])
    await lay(store, "q:other", topics=["voice"])
    clock.advance(1)

    strongest = await store.strongest(2)
    redis_trails = await store.strongest(topic="redis")

    assert [p.signature for p in strongest] == ["q:hot", "q:other"]  # equal strengths order by signature
    assert strongest[0].strength == pytest.approx(3 * 0.5 ** (1 / HALF_LIFE_S))
    assert [p.signature for p in redis_trails] == ["q:hot", "q:warm"]
    assert await store.strongest(topic="nothing") == []


async def test_a_deposit_without_payload_keeps_the_stored_one(store: PheromoneStore) -> None:
    await lay(store, "q:1", payload={"answer": "42"})
    await lay(store, "q:1")
    kept = await store.get("q:1")
    await lay(store, "q:1", payload={"answer": "43"})
    replaced = await store.get("q:1")

    assert kept is not None
    assert replaced is not None
    assert (kept.payload, replaced.payload) == ({"answer": "42"}, {"answer": "43"})


async def test_withdrawing_deletes_a_trail_unless_it_holds_more_deposits_than_withdrawn(store: PheromoneStore) -> None:
    await lay(store, "q:shared", topics=["redis"])
    await lay(store, "q:shared", topics=["redis"])
    await lay(store, "a:answer", payload={"answer": "42"})

    assert await store.withdraw("q:shared", topics=["redis"], at_most=1) is False  # a deposit is someone else's
    assert await store.get("q:shared") is not None
    assert await store.withdraw("q:shared", topics=["redis"], at_most=2) is True
    assert await store.withdraw("a:answer") is True

    assert (await store.get("q:shared"), await store.get("a:answer")) == (None, None)
    assert (await store.strongest(10), await store.strongest(10, topic="redis")) == ([], [])
    assert await store.withdraw("q:never-laid") is False


async def test_concurrent_deposits_are_atomic(store: PheromoneStore) -> None:
    await asyncio.gather(*(lay(store, "q:busy") for _ in range(200)))

    read = await store.get("q:busy")

    assert read is not None
    assert (read.deposits, read.strength) == (200, pytest.approx(200.0))
