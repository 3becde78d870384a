"""Pheromind over REST and in readiness: trails are listed read-only; a dead Redis is a `warn`, not a failure."""

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from council.app import create_app
from council.pheromind import Pheromind
from council.settings import Settings
from tests.conftest import client_to, closed_port

pytestmark = pytest.mark.anyio


async def test_trails_lists_the_strongest_live_trails(
    client: httpx.AsyncClient, lifespan_state: dict[str, Any]
) -> None:
    pheromind = lifespan_state["pheromind"]
    assert isinstance(pheromind, Pheromind)
    frozen = pheromind.store.clock()
    pheromind.store.clock = lambda: frozen  # trails halve every 6 s: a slow request must not decay them mid-test
    for question in ("What is Redis?", "what is redis", "Tell me about voices"):
        await pheromind.record_turn(question, scope="local")

    body = (await client.get("/api/pheromind/trails", params={"limit": 2})).json()
    redis_only = (await client.get("/api/pheromind/trails", params={"topic": "Redis"})).json()

    assert (body["backend"], body["degraded"]) == ("memory", False)
    assert [trail["strength"] for trail in body["trails"]] == [pytest.approx(2.0)] * 2
    assert {trail["signature"] for trail in redis_only["trails"]} >= {"t:local/redis"}
    assert all("redis" in trail["topics"] for trail in redis_only["trails"])
    assert (await client.get("/api/pheromind/trails", params={"limit": 0})).status_code == 422


async def test_readiness_reports_the_kip_and_pheromind_stores(client: httpx.AsyncClient) -> None:
    checks = (await client.get("/health/ready")).json()["checks"]
    assert checks["kip"][0]["status"] == "pass"
    assert checks["pheromind"][0]["status"] == "pass"


@pytest.fixture
async def redis_down_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    down = Settings.model_validate(
        {
            **settings.model_dump(),
            "pheromind": {"backend": "redis", "redis_url": f"redis://127.0.0.1:{closed_port()}/0"},
        }
    )
    async with client_to(create_app(down)) as http:
        yield http


async def test_redis_down_is_a_readiness_warn_and_trails_are_empty(redis_down_client: httpx.AsyncClient) -> None:
    ready = await redis_down_client.get("/health/ready")
    trails = (await redis_down_client.get("/api/pheromind/trails")).json()

    pheromind_check = ready.json()["checks"]["pheromind"][0]
    assert pheromind_check["status"] == "warn"
    assert "degraded" in pheromind_check["output"]
    assert (ready.status_code, ready.json()["status"]) == (200, "warn")  # not ready-failing: chat keeps working
    assert (trails["degraded"], trails["trails"]) == (True, [])


@pytest.fixture
async def two_clients(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # Trails that barely fade over the test's few slow turns (the embedded model on two cores).
    keyed = Settings.model_validate(
        {
            **settings.model_dump(),
            "auth": {"client_keys": {"alice": "alice-key", "bob": "bob-key"}},
            "pheromind": {"half_life_s": 3600, "ttl_s": 3600},
        }
    )
    async with client_to(create_app(keyed)) as http:
        yield http


async def test_one_clients_trails_neither_route_nor_show_in_another_clients_turn(
    two_clients: httpx.AsyncClient,
) -> None:
    alice, bob = {"X-API-Key": "alice-key"}, {"X-API-Key": "bob-key"}
    with anyio.fail_after(120):
        for question in ("Why is Redis fast?", "Redis persistence options?", "Redis in one line?"):
            laid = await two_clients.post("/api/chat", json={"message": f"/fast {question}"}, headers=alice)
            assert laid.status_code == 200, laid.text
        asked = await two_clients.post("/api/chat", json={"message": "How do Redis streams work?"}, headers=bob)
        own = await two_clients.post("/api/chat", json={"message": "How do Redis streams work?"}, headers=alice)

    assert asked.status_code == 200, asked.text
    # alice made "redis" hot for herself (three trails of its topic, threshold 2.5); bob asked nothing of the kind.
    assert asked.json()["path"] == "fast"
    assert "trail" not in asked.json()["reason"]
    assert own.json()["path"] == "council", own.text
    assert "3.00" in own.json()["reason"]  # her own trail's strength, in her own reason
