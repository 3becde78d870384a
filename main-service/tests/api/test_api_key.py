"""With COUNCIL_AUTH__API_KEY set, mutations and admin routes need it; reads and chat stay open."""

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from council.app import create_app
from council.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def keyed_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    settings.auth.api_key = SecretStr("s3cret")
    async with LifespanManager(create_app(settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_admin_and_kip_mutations_need_the_key(keyed_client: httpx.AsyncClient) -> None:
    thread = (await keyed_client.post("/api/chat", json={"message": "/fast hi"})).json()["thread_id"]

    no_key = await keyed_client.delete(f"/api/conversations/{thread}")
    wrong_key = await keyed_client.delete(f"/api/conversations/{thread}", headers={"X-API-Key": "nope"})
    mint = await keyed_client.post("/api/kip/treasury/mint", json={"amount": 5})
    right_key = await keyed_client.delete(f"/api/conversations/{thread}", headers={"Authorization": "Bearer s3cret"})

    assert [no_key.status_code, wrong_key.status_code, mint.status_code] == [401, 401, 401]
    assert no_key.json()["error"]["code"] == "unauthorized"
    assert right_key.status_code == 204


async def test_reads_stay_open_with_a_key_configured(keyed_client: httpx.AsyncClient) -> None:
    assert (await keyed_client.get("/api/conversations")).status_code == 200
    assert (await keyed_client.get("/api/kip/treasury")).status_code == 200
