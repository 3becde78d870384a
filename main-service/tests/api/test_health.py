"""Liveness and readiness of the main service, in process (the voice service is deliberately absent)."""

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from council.app import create_app
from council.health import Check, HealthStatus
from council.kip import Kip
from council.kip.stores.sqlite import SqliteKipStore
from council.observability.readiness import ReadinessCache
from council.settings import AuthSettings, Settings
from tests.lifespan import app_started

pytestmark = pytest.mark.anyio


async def test_liveness_passes_in_health_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    body = response.json()
    assert body["status"] == "pass"
    assert body["serviceId"] == "hybrid-council-main"
    assert body["version"]


async def test_readiness_is_warn_not_fail_when_voice_is_unreachable(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "warn"
    (voice_check,) = body["checks"]["voice:ready"]
    assert voice_check["status"] == "warn"
    assert "ConnectError" in voice_check["output"]


async def test_readiness_checks_conversation_memory(client: httpx.AsyncClient) -> None:
    (memory,) = (await client.get("/health/ready")).json()["checks"]["memory"]
    assert memory["status"] == "pass"
    assert memory["backend"] == "sqlite"
    assert memory["componentType"] == "datastore"


async def test_a_full_kip_database_answers_507_and_fails_readiness_until_writes_work(
    client: httpx.AsyncClient, lifespan_state: dict[str, Any]
) -> None:
    kip = lifespan_state["kip"]
    assert isinstance(kip, Kip)
    assert isinstance(kip.store, SqliteKipStore)
    note = {"topic": "big", "content": "x" * 20_000}  # needs new pages wherever it goes

    async def limit_pages(pages: int) -> None:
        # SQLite's own size cap on the store's connection: past it a write fails with SQLITE_FULL, as on a full disk.
        await kip.store._run(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))

    await limit_pages(1)
    refused = await client.post("/api/kip/knowledge", json=note, headers={"X-Request-ID": "req-disk-full-1"})
    full = await client.get("/health/ready")
    listed = await client.get("/api/kip/knowledge")
    await limit_pages(1_000_000)
    recovered = await client.get("/health/ready")
    stored = await client.post("/api/kip/knowledge", json=note)

    assert refused.status_code == 507
    assert refused.json()["error"]["code"] == "storage_full"
    assert refused.json()["error"]["request_id"] == "req-disk-full-1"
    assert full.status_code == 503
    (kip_check,) = full.json()["checks"]["kip"]
    assert kip_check["status"] == "fail"
    assert "full" in kip_check["output"]
    assert listed.status_code == 200  # reads are still served
    assert recovered.status_code == 200
    assert recovered.json()["checks"]["kip"][0]["status"] == "pass"
    assert stored.status_code == 201


async def test_a_full_conversation_store_answers_507_and_fails_readiness_until_writes_work(
    client: httpx.AsyncClient, lifespan_state: dict[str, Any]
) -> None:
    saver = lifespan_state["orchestrator"].checkpointer
    assert isinstance(saver, AsyncSqliteSaver)
    turn = {"message": "/fast Say hi"}

    async def fill_up() -> None:
        # SQLite's own size cap on the store's connection (at least the file's size now), then every free byte taken:
        # past it any write fails with SQLITE_FULL, as on a full disk.
        async with saver.lock:
            await saver.conn.execute("CREATE TABLE filler (data BLOB)")
            await saver.conn.execute("PRAGMA max_page_count = 1")
            with contextlib.suppress(sqlite3.OperationalError):
                while True:
                    await saver.conn.execute("INSERT INTO filler VALUES (zeroblob(256))")
                    await saver.conn.commit()
            await saver.conn.rollback()

    async def make_room() -> None:
        async with saver.lock:
            await saver.conn.execute("PRAGMA max_page_count = 1000000")

    await fill_up()
    with anyio.fail_after(60):
        refused = await client.post("/api/chat", json=turn, headers={"X-Request-ID": "req-memory-full-1"})
    full = await client.get("/health/ready")
    listed = await client.get("/api/conversations")
    await make_room()
    recovered = await client.get("/health/ready")
    with anyio.fail_after(60):
        stored = await client.post("/api/chat", json=turn)

    assert refused.status_code == 507, refused.text
    assert refused.json()["error"]["code"] == "storage_full"
    assert refused.json()["error"]["request_id"] == "req-memory-full-1"
    assert full.status_code == 503
    (memory,) = full.json()["checks"]["memory"]
    assert memory["status"] == "fail"
    assert "no room" in memory["output"]
    assert listed.status_code == 200  # reads are still served
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["checks"]["memory"][0]["status"] == "pass"
    assert stored.status_code == 200, stored.text


REMOTE = ("203.0.113.7", 40_000)
"""A caller off this machine (an address of TEST-NET-3)."""


@contextlib.asynccontextmanager
async def remote_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with an admin key and a client key, reached from another machine."""
    keyed = settings.model_copy(
        update={"auth": AuthSettings.model_validate({"api_key": "admin-key", "client_keys": {"alice": "alice-key"}})}
    )
    async with app_started(create_app(keyed)) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=REMOTE)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            yield http


def probed_at(response: httpx.Response) -> dict[str, str]:
    return {name: checks[0]["time"] for name, checks in response.json()["checks"].items()}


async def test_readiness_tells_a_remote_caller_each_status_without_details_and_the_admin_everything(
    settings: Settings,
) -> None:
    async with remote_client(settings) as http:
        anonymous = await http.get("/health/ready")
        client = await http.get("/health/ready", headers={"X-API-Key": "alice-key"})
        admin = await http.get("/health/ready", headers={"X-API-Key": "admin-key"})

    for response in (anonymous, client):
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "warn"
        assert {name: checks[0]["status"] for name, checks in body["checks"].items()} == {
            name: checks[0]["status"] for name, checks in admin.json()["checks"].items()
        }
        for (check,) in body["checks"].values():
            assert set(check) == {"componentType", "status", "time"}, check  # no error text, backend or breaker
    (voice_check,) = admin.json()["checks"]["voice:ready"]
    assert "ConnectError" in voice_check["output"]
    assert admin.json()["checks"]["memory"][0]["backend"] == "sqlite"


async def test_a_remote_callers_readiness_reuses_the_last_probes_and_a_local_caller_probes_anew(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    async with remote_client(settings) as http:
        first = await http.get("/health/ready")
        again = await http.get("/health/ready")
    local_first = await client.get("/health/ready")  # the `client` fixture's address is 127.0.0.1
    local_again = await client.get("/health/ready")

    assert probed_at(again) == probed_at(first)
    assert all(probed_at(local_again)[name] > at for name, at in probed_at(local_first).items())


async def test_the_readiness_cache_probes_again_once_its_answer_is_too_old() -> None:
    now = [100.0]
    probes: list[float] = []

    async def probe() -> list[Check]:
        probes.append(now[0])
        return [Check("db", HealthStatus.PASS)]

    cache = ReadinessCache(max_age_s=2.0, clock=lambda: now[0])
    for at in (100.0, 101.9, 102.0, 102.5):
        now[0] = at
        await cache.checks(probe, fresh=False)
    await cache.checks(probe, fresh=True)

    assert probes == [100.0, 102.0, 102.5]
