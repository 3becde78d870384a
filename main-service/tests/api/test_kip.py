"""KIP over REST: the DESIGN §7 paths, the error shape for every caller mistake, and the API key on mutations."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from council.app import create_app
from council.kip.calls import ToolCallStart
from council.settings import Settings
from tests.lifespan import app_started

pytestmark = pytest.mark.anyio

API_KEY = "test-key-123"


async def create_agent(client: httpx.AsyncClient, name: str, **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/kip/agents", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def fund(client: httpx.AsyncClient, agent_id: str, amount: int, key: str) -> httpx.Response:
    return await client.post(
        "/api/kip/transfers",
        json={"from": "treasury", "to": agent_id, "amount": amount, "reason": "seed"},
        headers={"Idempotency-Key": key},
    )


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def test_agent_lifecycle_over_rest(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, "alpha", role="adds numbers", capabilities=["calculator"])

    assert (agent["balance"], agent["status"], agent["per_call_cap"]) == (0, "active", 100)
    assert (await client.get(f"/api/kip/agents/{agent['id']}")).json() == agent
    listed = (await client.get("/api/kip/agents")).json()["agents"]
    assert [a["id"] for a in listed] == [agent["id"]]
    patched = await client.patch(f"/api/kip/agents/{agent['id']}", json={"status": "paused", "daily_cap": 3})
    assert (patched.json()["status"], patched.json()["daily_cap"]) == ("paused", 3)


async def test_mint_transfer_and_treasury_summary(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, "alpha")
    minted = await client.post("/api/kip/treasury/mint", json={"amount": 1000})
    assert minted.status_code == 201

    first = await fund(client, agent["id"], 250, "fund-1")
    again = await fund(client, agent["id"], 250, "fund-1")

    assert first.status_code == 201
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    assert again.json()["transaction"] == first.json()["transaction"]
    assert first.json()["transaction"]["request_id"] == first.headers["X-Request-ID"]
    summary = (await client.get("/api/kip/treasury")).json()
    assert summary == {
        "treasury": 750,
        "accounts": {"treasury": 750, agent["id"]: 250},
        "total": 1000,
        "supply": 1000,
    }
    page = (await client.get("/api/kip/transactions", params={"account": agent["id"]})).json()
    assert [tx["kind"] for tx in page["items"]] == ["funding"]
    assert page["next_cursor"] is None


async def test_transactions_are_paged(client: httpx.AsyncClient) -> None:
    for n in range(5):
        assert (await client.post("/api/kip/treasury/mint", json={"amount": n + 1})).status_code == 201
    first = (await client.get("/api/kip/transactions", params={"limit": 3})).json()
    rest = (await client.get("/api/kip/transactions", params={"limit": 3, "after": first["next_cursor"]})).json()
    assert [tx["amount"] for tx in first["items"] + rest["items"]] == [1, 2, 3, 4, 5]
    assert rest["next_cursor"] is None
    future = (await client.get("/api/kip/transactions", params={"since": "2999-01-01T00:00:00Z"})).json()
    past = (await client.get("/api/kip/transactions", params={"since": "2000-01-01", "kind": "mint"})).json()
    assert (len(future["items"]), len(past["items"])) == (0, 5)


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ({"from": "treasury", "to": "agt_missing", "amount": 5}, {"Idempotency-Key": "k"}, 404, "not_found"),
        ({"from": "treasury", "to": "AGENT", "amount": 5000}, {"Idempotency-Key": "k"}, 409, "insufficient_funds"),
        ({"from": "treasury", "to": "AGENT", "amount": 5}, {}, 428, "idempotency_key_required"),
        ({"from": "treasury", "to": "AGENT", "amount": 1.5}, {"Idempotency-Key": "k"}, 422, "invalid_request"),
        ({"from": "treasury", "to": "AGENT", "amount": "5"}, {"Idempotency-Key": "k"}, 422, "invalid_request"),
        ({"from": "treasury", "to": "AGENT", "amount": 0}, {"Idempotency-Key": "k"}, 422, "invalid_request"),
        ({"from": "treasury", "to": "treasury", "amount": 5}, {"Idempotency-Key": "k"}, 422, "invalid_request"),
        ({"from": "treasury", "amount": 5}, {"Idempotency-Key": "k"}, 422, "invalid_request"),
    ],
)
async def test_transfer_mistakes_are_4xx_in_the_error_shape(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str], status: int, code: str
) -> None:
    agent = await create_agent(client, "alpha")
    await client.post("/api/kip/treasury/mint", json={"amount": 100})
    if body.get("to") == "AGENT":
        body = {**body, "to": agent["id"]}

    response = await client.post("/api/kip/transfers", json=body, headers=headers)

    assert (response.status_code, error_code(response)) == (status, code)
    assert response.json()["error"]["request_id"] == response.headers["X-Request-ID"]
    assert (await client.get("/api/kip/treasury")).json()["treasury"] == 100


async def test_a_reused_idempotency_key_with_another_body_is_refused(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, "alpha")
    await client.post("/api/kip/treasury/mint", json={"amount": 100})
    assert (await fund(client, agent["id"], 10, "same")).status_code == 201

    response = await fund(client, agent["id"], 11, "same")

    assert (response.status_code, error_code(response)) == (422, "idempotency_key_reused")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/kip/agents/agt_missing", None, 404),
        ("PATCH", "/api/kip/agents/agt_missing", {"role": "x"}, 404),
        ("POST", "/api/kip/agents", {"name": "bad name!"}, 422),
        ("POST", "/api/kip/agents", {"name": "ok", "surprise": 1}, 422),
        ("POST", "/api/kip/agents", {"name": "ok", "daily_cap": True}, 422),
        ("POST", "/api/kip/agents", {"name": "ok", "daily_cap": 10**27}, 422),
        ("GET", "/api/kip/transactions?after=1000000000000000000000000000000", None, 422),
        ("POST", "/api/kip/treasury/mint", {"amount": -1}, 422),
        ("POST", "/api/kip/treasury/mint", {"amount": 10**13}, 422),
        ("GET", "/api/kip/transactions?limit=0", None, 422),
        ("GET", "/api/kip/transactions?kind=theft", None, 422),
        ("GET", "/api/kip/transactions?since=yesterday", None, 422),
        ("GET", "/api/kip/analysis?window_hours=-1", None, 422),
        ("POST", "/api/kip/agents/agt_missing/runs", {"text": "1+1"}, 404),
    ],
)
async def test_caller_mistakes_are_4xx(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None, status: int
) -> None:
    response = await client.request(method, path, json=body)
    assert response.status_code == status
    assert "code" in response.json()["error"]


async def test_duplicate_agent_names_conflict(client: httpx.AsyncClient) -> None:
    await create_agent(client, "alpha")
    response = await client.post("/api/kip/agents", json={"name": "ALPHA"})
    assert (response.status_code, error_code(response)) == (409, "conflict")


async def test_an_agent_run_is_metered_and_shows_in_the_analysis(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, "mathy", capabilities=["calculator"])
    await client.post("/api/kip/treasury/mint", json={"amount": 100})
    await fund(client, agent["id"], 10, "seed")

    run = await client.post(f"/api/kip/agents/{agent['id']}/runs", json={"text": "6*7"})

    events = run.json()["events"]
    assert [event["type"] for event in events] == ["kip.started", "kip.charged", "kip.output"]
    assert events[-1]["text"] == "6*7 = 42"
    assert (await client.get(f"/api/kip/agents/{agent['id']}")).json()["balance"] == 9
    [entry] = (await client.get("/api/kip/analysis")).json()["agents"]
    assert (entry["spent"], entry["calls"], entry["success_rate"]) == (1, 1, 1.0)
    tools = {tool["name"]: tool for tool in (await client.get("/api/kip/tools")).json()}
    assert set(tools) == {"calculator", "notes", "knowledge"}


async def test_a_replayed_run_answers_the_first_runs_body_without_running_the_tool_again(
    client: httpx.AsyncClient,
) -> None:
    agent = await create_agent(client, "scribe", capabilities=["notes"])
    await client.post("/api/kip/treasury/mint", json={"amount": 100})
    await fund(client, agent["id"], 10, "seed")
    run = {"text": "note: ledger balances add up", "idempotency_key": "run-1"}

    first = await client.post(f"/api/kip/agents/{agent['id']}/runs", json=run)
    again = await client.post(f"/api/kip/agents/{agent['id']}/runs", json=run)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    # The notes tool writes a note each time it runs: one note, one charge, one recorded call.
    notes = (await client.get("/api/kip/knowledge", params={"kind": "note"})).json()
    assert len(notes) == 1
    assert (await client.get(f"/api/kip/agents/{agent['id']}")).json()["balance"] == 9
    [entry] = (await client.get("/api/kip/analysis")).json()["agents"]
    assert (entry["spent"], entry["calls"]) == (1, 1)


async def test_decisions_and_knowledge_are_recorded_and_queryable(client: httpx.AsyncClient) -> None:
    decision = {
        "question": "Which store?",
        "outcome": "SQLite by default",
        "reasoning": "embedded",
        "answered_share": 0.9,
        "members": ["analytical", "critical"],
        "topic": "storage",
        "thread_id": "thread-7",
    }
    assert (await client.post("/api/kip/decisions", json=decision)).status_code == 201
    fact = {"topic": "storage", "content": "WAL mode lets readers run beside the writer", "source": "thread-7"}
    assert (await client.post("/api/kip/knowledge", json=fact)).status_code == 201

    [found] = (await client.get("/api/kip/decisions", params={"thread_id": "thread-7"})).json()
    derived = (await client.get("/api/kip/knowledge", params={"source": "thread-7"})).json()
    searched = (await client.get("/api/kip/knowledge", params={"text": "wal mode"})).json()

    assert (found["content"], found["data"]["members"]) == ("SQLite by default", ["analytical", "critical"])
    assert {item["kind"] for item in derived} == {"decision", "fact"}
    assert [item["kind"] for item in searched] == ["fact"]


@pytest.fixture
async def keyed_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    keyed = Settings.model_validate({**settings.model_dump(), "auth": {"api_key": API_KEY}})
    async with app_started(create_app(keyed)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            yield http


async def test_kip_needs_the_admin_key_when_one_is_set(keyed_client: httpx.AsyncClient) -> None:
    refused = await keyed_client.post("/api/kip/treasury/mint", json={"amount": 5})
    wrong = await keyed_client.post(
        "/api/kip/treasury/mint", json={"amount": 5}, headers={"Authorization": "Bearer nope"}
    )
    bearer = await keyed_client.post(
        "/api/kip/treasury/mint", json={"amount": 5}, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    header = await keyed_client.post("/api/kip/agents", json={"name": "a"}, headers={"X-API-Key": API_KEY})

    assert (refused.status_code, error_code(refused), refused.headers["WWW-Authenticate"]) == (
        401,
        "unauthorized",
        "Bearer",
    )
    assert wrong.status_code == 401
    assert (bearer.status_code, header.status_code) == (201, 201)
    assert (await keyed_client.get("/api/kip/treasury")).status_code == 401  # reads too: KIP is the operator's
    treasury = await keyed_client.get("/api/kip/treasury", headers={"X-API-Key": API_KEY})
    assert treasury.json()["treasury"] == 5


async def test_a_replayed_run_whose_first_run_has_not_finished_is_a_409(settings: Settings) -> None:
    async with app_started(create_app(settings)) as manager:
        kip = manager._state["kip"]
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            agent = await create_agent(client, "mathy", capabilities=["calculator"])
            # The first run's record as a crash between its charge and its result leaves it: running.
            fingerprint = ToolCallStart.fingerprint_of(agent["id"], "calculator", "6*7")
            await kip.store.start_tool_call(
                ToolCallStart(
                    agent_id=agent["id"],
                    tool="calculator",
                    cost=0,
                    charge=None,
                    idempotency_key="run-1",
                    fingerprint=fingerprint,
                )
            )

            replay = await client.post(
                f"/api/kip/agents/{agent['id']}/runs", json={"text": "6*7", "idempotency_key": "run-1"}
            )

    assert (replay.status_code, error_code(replay)) == (409, "tool_call_in_progress")
    assert replay.json()["error"]["request_id"] == replay.headers["X-Request-ID"]
