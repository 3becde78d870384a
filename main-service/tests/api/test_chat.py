"""`POST /api/chat` and `POST /api/chat/stream` in process, with the real bundled model (a few tokens per call)."""

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import closed_port
from tests.processes import free_port, running


def sse_events(body: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


@pytest.mark.anyio
async def test_chat_answers_with_path_reason_members_and_timings(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat", json={"message": "Should I learn Go or Rust?"})

    assert response.status_code == 200
    body = response.json()
    assert body["path"] == "council"
    assert body["reason"] == "asks for a judgement ('should i')"
    assert body["answer"]
    assert [member["member"] for member in body["members"]] == ["analytical", "creative", "critical"]
    assert all(member["status"] == "ok" and member["answer"] for member in body["members"])
    phases = [call["phase"] for call in body["timings"]["calls"]]
    assert sorted(phases) == ["answer", "answer", "answer", "synthesis"]
    assert body["timings"]["total_ms"] > 0
    assert len(body["thread_id"]) == 32


@pytest.mark.anyio
async def test_chat_asks_only_the_chosen_council_members(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat", json={"message": "/council Tea or coffee?", "members": ["critical"]})

    assert response.status_code == 200, response.text
    assert [member["member"] for member in response.json()["members"]] == ["critical"]


@pytest.mark.anyio
async def test_a_chat_turn_chooses_its_review_round_and_ranking(client: httpx.AsyncClient) -> None:
    # The settings leave both off; this turn turns both on.
    response = await client.post(
        "/api/chat", json={"message": "/council Tea or coffee?", "review_round": True, "ranking": True}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(call["phase"] for call in body["timings"]["calls"]) == sorted(
        ["answer"] * 3 + ["review"] * 3 + ["ranking"] * 3 + ["synthesis"]
    )
    ranking = body["ranking"]
    assert sorted(answer["member"] for answer in ranking["answers"]) == ["analytical", "creative", "critical"]
    assert sorted(ballot["ranker"] for ballot in ranking["ballots"]) == ["analytical", "creative", "critical"]
    for ballot in ranking["ballots"]:  # 8 tokens: a ballot may be unreadable, and then it says why
        assert sorted(ballot["labels"]) == ["A", "B"]
        assert (ballot["order"] is None) == (ballot["problem"] is not None)

    plain = (await client.post("/api/chat", json={"message": "/council Tea or coffee?"})).json()
    assert plain["ranking"] is None
    assert sorted(call["phase"] for call in plain["timings"]["calls"]) == ["answer"] * 3 + ["synthesis"]


@pytest.mark.anyio
async def test_chat_stream_sends_the_ranking_stage_events(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat/stream", json={"message": "/council Tea or coffee?", "ranking": True})

    assert response.status_code == 200
    events = sse_events(response.text)
    kinds = [kind for kind, _ in events]
    assert "review" not in kinds
    assert kinds.count("ranking") == 1
    assert kinds.count("ranking.ballot") == 3
    assert kinds.index("ranking") < kinds.index("ranking.done") < kinds.index("synthesis.delta")
    assert {data["member"] for kind, data in events if kind == "member.done" and data["phase"] == "ranking"} == {
        "analytical",
        "creative",
        "critical",
    }
    final = events[-1][1]
    done = next(data for kind, data in events if kind == "ranking.done")
    assert final["ranking"] == {"answers": done["answers"], "ballots": done["ballots"]}


@pytest.mark.anyio
async def test_chat_continues_the_given_thread(client: httpx.AsyncClient) -> None:
    thread = (await client.post("/api/chat", json={"message": "/fast hello"})).json()["thread_id"]
    response = await client.post("/api/chat", json={"message": "/fast again", "thread_id": thread})
    assert response.status_code == 200
    assert response.json()["thread_id"] == thread

    conversation = (await client.get(f"/api/conversations/{thread}")).json()
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant", "user", "assistant"]


@pytest.mark.anyio
async def test_chat_stream_sends_the_typed_events_as_sse(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat/stream", json={"message": "hi", "path": "fast"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "route"
    assert events[0][1]["reason"] == "path 'fast' requested by the caller"
    assert "synthesis.delta" in kinds
    assert kinds[-1] == "final"
    final = events[-1][1]
    assert final["thread_id"] == response.headers["x-thread-id"]
    deltas = "".join(str(data["text"]) for kind, data in events if kind == "synthesis.delta")
    assert final["answer"] == deltas.strip()


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"message": ""}, 422, "message"),
        ({"message": "   "}, 422, "The message is empty."),
        ({"message": "/council"}, 422, "'/council' needs a message"),
        ({"message": "x" * 16_001}, 422, "COUNCIL_DELIBERATION__MAX_MESSAGE_CHARS"),
        ({"message": "hi", "path": "kip"}, 422, "/agent NAME"),
        ({"message": "hi", "path": "slow"}, 422, "path"),
        ({"message": "hi", "thread_id": "bad id!"}, 422, "thread_id"),
        ({"message": "/council hi", "members": ["analytical", "jester"]}, 422, "'jester'"),
        ({"message": "/council hi", "members": []}, 422, "members"),
        ({"message": "/council hi", "ranking": "yes"}, 422, "ranking"),
        ({"message": "/council hi", "review_round": 1}, 422, "review_round"),
        ({}, 422, "message"),
    ],
)
@pytest.mark.parametrize("route", ["/api/chat", "/api/chat/stream"])
@pytest.mark.anyio
async def test_bad_chat_requests_are_4xx_in_the_error_shape(
    client: httpx.AsyncClient, route: str, payload: dict[str, object], status: int, fragment: str
) -> None:
    response = await client.post(route, json=payload)

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert fragment in error["message"]
    assert error["request_id"]


@pytest.mark.anyio
async def test_a_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat", json={"message": "x" * 2_000_000})

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.anyio
async def test_readiness_includes_the_llm(client: httpx.AsyncClient) -> None:
    body = (await client.get("/health/ready")).json()

    (llm,) = body["checks"]["llm:embedded"]
    assert llm["status"] == "pass"


def test_a_client_leaving_the_sse_stream_cancels_the_turn(tmp_path: Path) -> None:
    """Over real HTTP (uvicorn): a disconnect mid-answer frees the model and the unfinished turn is not remembered."""
    port = free_port()
    env = {
        "COUNCIL_SERVER__PORT": str(port),
        "COUNCIL_MEMORY__DATA_DIR": str(tmp_path / "memory"),
        "COUNCIL_KIP__DATA_DIR": str(tmp_path / "kip"),
        "COUNCIL_VOICE__BASE_URL": f"http://127.0.0.1:{closed_port()}",
        "COUNCIL_LLM__MAX_TOKENS": "1500",  # minutes of decoding on this machine unless cancelled
        "COUNCIL_LLM__POOL_SIZE": "1",
    }
    base = f"http://127.0.0.1:{port}"
    story = {"message": "/fast Write a very long story about a dragon, in many chapters."}
    with running(["-m", "council"], ready_url=f"{base}/health/live", env=env):
        with httpx.stream("POST", f"{base}/api/chat/stream", json=story, timeout=30) as response:
            assert response.status_code == 200
            gone = response.headers["x-thread-id"]  # minted by the server
            for line in response.iter_lines():
                if line == "event: synthesis.delta":
                    break  # the answer is streaming; leaving the block drops the connection

        def busy() -> int:
            (check,) = httpx.get(f"{base}/health/ready", timeout=5).json()["checks"]["llm:embedded"]
            return int(check["busy"])

        deadline = time.monotonic() + 60  # a safety net only; the context frees within a token or two
        while busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert busy() == 0
        messages = httpx.get(f"{base}/api/conversations/{gone}", timeout=5).json()["messages"]

    assert [m["role"] for m in messages] == ["user"], "the cancelled turn has no answer in memory"
