"""`GET /api/conversations`, `GET`/`DELETE /api/conversations/{thread_id}`."""

import json

import httpx
import pytest

from council.auth import LOCAL
from council.pheromind import question_signature
from council.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Trails outlive the slowest council turn here: what a delete must remove cannot have evaporated instead.
    return settings.model_copy(update={"pheromind": settings.pheromind.model_copy(update={"ttl_s": 600.0})})


async def test_list_get_and_delete_a_conversation(client: httpx.AsyncClient) -> None:
    conv_a = (await client.post("/api/chat", json={"message": "/fast first words"})).json()["thread_id"]
    conv_b = (await client.post("/api/chat", json={"message": "/fast other"})).json()["thread_id"]

    listed = (await client.get("/api/conversations")).json()["conversations"]
    assert [c["thread_id"] for c in listed] == [conv_b, conv_a]
    assert listed[1] | {"updated_at": None} == {
        "thread_id": conv_a,
        "title": "/fast first words",
        "turns": 1,
        "updated_at": None,
    }
    one = (await client.get(f"/api/conversations/{conv_a}")).json()
    assert one["thread_id"] == conv_a
    assert one["messages"][0] == {"role": "user", "content": "/fast first words", "path": None}
    assert one["messages"][1]["path"] == "fast"

    deleted = await client.delete(f"/api/conversations/{conv_a}")

    assert deleted.status_code == 204
    assert (await client.get(f"/api/conversations/{conv_a}")).status_code == 404
    assert [c["thread_id"] for c in (await client.get("/api/conversations")).json()["conversations"]] == [conv_b]


async def first_event(client: httpx.AsyncClient, message: str) -> dict[str, object]:
    async with client.stream("POST", "/api/chat/stream", json={"message": message}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                event: dict[str, object] = json.loads(line.removeprefix("data: "))
                return event
    raise AssertionError("no event")


async def test_deleting_a_conversation_deletes_what_was_derived_from_it(client: httpx.AsyncClient) -> None:
    thread_id = (await client.post("/api/chat", json={"message": "/council Which store should KIP use?"})).json()[
        "thread_id"
    ]
    fact = {"topic": "storage", "content": "WAL lets readers run beside the writer", "source": thread_id}
    assert (await client.post("/api/kip/knowledge", json=fact)).status_code == 201
    other = (await client.post("/api/chat", json={"message": "/council Tabs or spaces?"})).json()["thread_id"]
    assert (await client.get(f"/api/kip/conversations/{thread_id}/graph")).status_code == 200

    assert (await client.delete(f"/api/conversations/{thread_id}")).status_code == 204

    assert (await client.get(f"/api/kip/conversations/{thread_id}/graph")).status_code == 404
    assert (await client.get("/api/kip/knowledge", params={"source": thread_id})).json() == []
    assert (await client.get(f"/api/kip/conversations/{other}/graph")).status_code == 200
    trails = {
        t["signature"] for t in (await client.get("/api/pheromind/trails", params={"limit": 100})).json()["trails"]
    }
    scope = LOCAL.name  # trails are the caller's own
    gone = {
        question_signature("Which store should KIP use?", scope),
        *(f"t:{scope}/{t}" for t in ("store", "kip", "use")),
    }
    kept = {question_signature("Tabs or spaces?", scope), f"t:{scope}/tabs"}
    assert (trails & gone, kept <= trails) == (set(), True)
    # The answer its first turn kept for its owner is gone too: the same question is answered afresh.
    assert (await first_event(client, "Which store should KIP use?"))["cached"] is False


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_an_unknown_thread_is_404(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/api/conversations/never-seen")

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "never-seen" in error["message"]


async def test_a_malformed_thread_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/conversations/bad%20id")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
