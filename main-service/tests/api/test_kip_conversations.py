"""The conversation graph over REST: a council turn's question, answer and decision, linked; 404 for the unknown."""

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_a_council_turn_is_served_as_a_conversation_graph(client: httpx.AsyncClient) -> None:
    answer = (await client.post("/api/chat", json={"message": "/council Which store should KIP use?"})).json()
    thread_id = answer["thread_id"]
    fact = {"topic": "storage", "content": "WAL lets readers run beside the writer", "source": thread_id}
    assert (await client.post("/api/kip/knowledge", json=fact)).status_code == 201

    response = await client.get(f"/api/kip/conversations/{thread_id}/graph")

    assert response.status_code == 200, response.text
    graph = response.json()
    assert graph["conversation"]["title"].endswith("Which store should KIP use?")
    question, reply = graph["messages"]
    assert (question["role"], reply["role"], reply["text"]) == ("user", "council", answer["answer"])
    [decision] = graph["decisions"]
    assert decision["data"]["members"] == [m["member"] for m in answer["members"] if m["status"] == "ok"]
    assert reply["decision_ids"] == [decision["id"]]
    assert [k["content"] for k in graph["knowledge"]] == [fact["content"]]
    assert {"type": "decided", "source": reply["id"], "target": decision["id"]} in graph["edges"]
    by_topic = (await client.get("/api/kip/decisions", params={"topic": decision["topic"]})).json()
    assert [d["id"] for d in by_topic] == [decision["id"]]


async def test_an_unknown_conversation_is_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/kip/conversations/never-seen/graph")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "never-seen" in response.json()["error"]["message"]
