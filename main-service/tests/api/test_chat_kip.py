"""KIP through `POST /api/chat`: `/agent NAME do …` and `@NAME do …` run the tool, a request no agent could take
is a 4xx before anything is charged, and any council answer is recorded as a decision."""

import uuid

import httpx
import pytest
from pydantic import TypeAdapter

from council.kip.knowledge import MAX_TOPIC_CHARS
from council.kip.runner import MAX_REQUEST_CHARS
from council.orchestrator import Event
from tests.api.test_chat import sse_events

pytestmark = pytest.mark.anyio


async def funded_agent(client: httpx.AsyncClient, name: str, funds: int = 10) -> str:
    created = await client.post("/api/kip/agents", json={"name": name, "capabilities": ["calculator"]})
    assert created.status_code == 201, created.text
    await client.post("/api/kip/treasury/mint", json={"amount": funds})
    transfer = {"from": "treasury", "to": created.json()["id"], "amount": funds, "reason": "seed"}
    response = await client.post("/api/kip/transfers", json=transfer, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    return str(created.json()["id"])


async def balance(client: httpx.AsyncClient, agent_id: str) -> int:
    return int((await client.get("/api/kip/treasury")).json()["accounts"][agent_id])


@pytest.mark.parametrize("message", ["/agent mathy do 2 + 3 * 4", "@mathy do 2 + 3 * 4", "@mathy, do 2 + 3 * 4"])
async def test_the_documented_do_form_runs_the_calculator(client: httpx.AsyncClient, message: str) -> None:
    agent_id = await funded_agent(client, "mathy")

    response = await client.post("/api/chat", json={"message": message})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["path"] == "kip"
    assert body["answer"] == "2 + 3 * 4 = 14"  # the tool saw the expression, not "do 2 + 3 * 4"
    assert await balance(client, agent_id) == 9


@pytest.mark.parametrize(
    ("message", "kinds"),
    [
        ("/agent mathy do 6 * 7", ["route", "kip.started", "kip.charged", "kip.output", "synthesis.delta", "final"]),
        ("/agent nobody do 6 * 7", ["route", "kip.refused", "synthesis.delta", "final"]),
    ],
)
async def test_the_kip_path_streams_typed_turn_events_on_the_turns_clock(
    client: httpx.AsyncClient, message: str, kinds: list[str]
) -> None:
    await funded_agent(client, "mathy")

    response = await client.post("/api/chat/stream", json={"message": message})

    # Every event, kip.* included, is a member of the one Event union, with its `t_ms`.
    events = [TypeAdapter(Event).validate_python(data) for _, data in sse_events(response.text)]
    assert [event.type for event in events] == kinds
    assert [event.t_ms for event in events] == sorted(event.t_ms for event in events)


@pytest.mark.parametrize("form", ["/agent mathy do ", "/agent mathy ", "@mathy "])
@pytest.mark.parametrize("route", ["/api/chat", "/api/chat/stream"])
async def test_a_request_longer_than_an_agent_takes_is_422_and_charges_nothing(
    client: httpx.AsyncClient, form: str, route: str
) -> None:
    agent_id = await funded_agent(client, "mathy")
    expression = "1+" * (MAX_REQUEST_CHARS // 2) + "1"  # well under the chat limit, over the agent's
    assert len(expression) > MAX_REQUEST_CHARS

    response = await client.post(route, json={"message": form + expression})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert f"agents take at most {MAX_REQUEST_CHARS}" in error["message"]
    assert error["request_id"]
    assert await balance(client, agent_id) == 10
    analysis = (await client.get("/api/kip/analysis")).json()
    assert all(agent["calls"] == 0 for agent in analysis["agents"]), analysis


async def test_a_council_question_led_by_one_huge_word_is_answered_and_recorded(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat", json={"message": "/council " + "x" * 250 + " or spaces: which is best?"})

    assert response.status_code == 200, response.text
    thread_id = response.json()["thread_id"]
    [decision] = (await client.get("/api/kip/decisions", params={"thread_id": thread_id})).json()
    assert decision["topic"] == "x" * MAX_TOPIC_CHARS
    assert decision["content"] == response.json()["answer"]
