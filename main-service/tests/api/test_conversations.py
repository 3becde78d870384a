"""`GET /api/conversations`, `GET`/`DELETE /api/conversations/{thread_id}`."""

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_list_get_and_delete_a_conversation(client: httpx.AsyncClient) -> None:
    await client.post("/api/chat", json={"message": "/fast first words", "thread_id": "conv-a"})
    await client.post("/api/chat", json={"message": "/fast other", "thread_id": "conv-b"})

    listed = (await client.get("/api/conversations")).json()["conversations"]
    assert [c["thread_id"] for c in listed] == ["conv-b", "conv-a"]
    assert listed[1] | {"updated_at": None} == {
        "thread_id": "conv-a",
        "title": "/fast first words",
        "turns": 1,
        "updated_at": None,
    }
    one = (await client.get("/api/conversations/conv-a")).json()
    assert one["thread_id"] == "conv-a"
    assert one["messages"][0] == {"role": "user", "content": "/fast first words", "path": None}
    assert one["messages"][1]["path"] == "fast"

    deleted = await client.delete("/api/conversations/conv-a")

    assert deleted.status_code == 204
    assert (await client.get("/api/conversations/conv-a")).status_code == 404
    assert [c["thread_id"] for c in (await client.get("/api/conversations")).json()["conversations"]] == ["conv-b"]


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
