"""Liveness and readiness of the main service, in process (the voice service is deliberately absent)."""

from typing import Any

import httpx
import pytest

from council.kip import Kip
from council.kip.stores.sqlite import SqliteKipStore

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
