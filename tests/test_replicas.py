"""Two main-service replicas as real processes, sharing the real PostgreSQL (memory, turn locks, KIP) and Redis
(Pheromind, answer cache, rate limits), behind no sticky load balancer: requests alternate between them."""

import json
import random
import signal
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from conftest import StartService
from servicekit import ServiceProcess

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
TURN_TIMEOUT_S = 180.0  # six turns on one thread run one after another on two shared CPU cores


@pytest.fixture(scope="module")
def shared_database() -> Iterator[str]:
    """A PostgreSQL database of this module only, dropped afterwards (with any session a killed replica left)."""
    name = f"council_replicas_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_SERVER}: {error}")
    yield f"{POSTGRES_SERVER}/{name}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def replica_settings(shared_database: str) -> dict[str, str]:
    return {
        "COUNCIL_MEMORY__BACKEND": "postgres",
        "COUNCIL_MEMORY__POSTGRES_URL": shared_database,
        "COUNCIL_KIP__STORE": "postgres",
        "COUNCIL_KIP__POSTGRES_URL": shared_database,
        "COUNCIL_KIP__DEFAULT_DAILY_CAP": "1000000",
        "COUNCIL_PHEROMIND__BACKEND": "redis",
        "COUNCIL_PHEROMIND__REDIS_URL": REDIS_URL,
        "COUNCIL_PHEROMIND__KEY_PREFIX": f"council-test-{uuid.uuid4().hex[:8]}:",
        "COUNCIL_RATE_LIMIT__REDIS_URL": REDIS_URL,
        "COUNCIL_RATE_LIMIT__CHAT": "1000/minute",
        "COUNCIL_RATE_LIMIT__KIP": "5000/minute",
        "COUNCIL_LLM__MAX_TOKENS": "16",
        # One client's six turns at once on one thread (the test below): more than the per-client defaults allow.
        "COUNCIL_DELIBERATION__MAX_TURNS_PER_CLIENT": "8",
        "COUNCIL_MEMORY__MAX_WAITING_TURNS_PER_CLIENT": "8",
    }


@pytest.fixture(scope="module")
def replicas(
    start_main_module: StartService, voice: ServiceProcess, replica_settings: dict[str, str]
) -> tuple[ServiceProcess, ServiceProcess]:
    # One after the other: the first replica's start-up creates and migrates the shared schemas.
    first = start_main_module(voice, **replica_settings)
    second = start_main_module(voice, **replica_settings)
    return first, second


def chat(replica: ServiceProcess, message: str, thread_id: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"message": message, **({"thread_id": thread_id} if thread_id else {})}
    return httpx.post(f"{replica.url}/api/chat", json=body, timeout=TURN_TIMEOUT_S)


def history(replica: ServiceProcess, thread_id: str) -> list[tuple[str, str]]:
    response = httpx.get(f"{replica.url}/api/conversations/{thread_id}", timeout=30)
    assert response.status_code == 200, response.text
    return [(message["role"], message["content"]) for message in response.json()["messages"]]


def test_concurrent_turns_on_one_thread_sent_to_both_replicas_all_land_in_its_history_in_order(
    replicas: tuple[ServiceProcess, ServiceProcess],
) -> None:
    questions = [f"/fast Remember the number {n}." for n in range(6)]
    opening = chat(replicas[0], "/fast Hello.")  # the server mints the thread's ID
    assert opening.status_code == 200, opening.text
    thread = opening.json()["thread_id"]
    with ThreadPoolExecutor(len(questions)) as pool:
        responses = list(pool.map(lambda n: chat(replicas[n % 2], questions[n], thread), range(len(questions))))
    assert [r.status_code for r in responses] == [200] * len(questions), [r.text for r in responses]
    answers = {q: r.json()["answer"] for q, r in zip(questions, responses, strict=True)}

    seen = [history(replica, thread) for replica in replicas]
    assert seen[0] == seen[1], "both replicas read the same history"
    messages = seen[0][2:]  # after the opening turn
    assert len(messages) == 2 * len(questions)
    assert sorted(content for role, content in messages if role == "user") == sorted(questions)
    for position in range(0, len(messages), 2):  # each question followed by its own answer
        (role, question), answer = messages[position], messages[position + 1]
        assert role == "user"
        assert answer == ("assistant", answers[question])

    # Then turn by turn, alternating: each lands after the last, whichever replica took it.
    for n, replica in enumerate([replicas[1], replicas[0]]):
        response = chat(replica, f"/fast And the letter {'AB'[n]}?", thread)
        assert response.status_code == 200, response.text
    tail = history(replicas[0], thread)[-4:]
    assert [content for role, content in tail if role == "user"] == [
        "/fast And the letter A?",
        "/fast And the letter B?",
    ]


def test_transfers_retried_on_the_other_replica_with_the_same_key_conserve_value_exactly(
    replicas: tuple[ServiceProcess, ServiceProcess],
) -> None:
    first, second = replicas
    run = uuid.uuid4().hex[:8]
    agents = []
    for n in range(6):
        created = httpx.post(f"{replicas[n % 2].url}/api/kip/agents", json={"name": f"r{run}-{n}"}, timeout=30)
        assert created.status_code == 201, created.text
        agents.append(created.json()["id"])
    supply_before = httpx.get(f"{first.url}/api/kip/treasury", timeout=30).json()["supply"]
    minted = httpx.post(f"{second.url}/api/kip/treasury/mint", json={"amount": 3000}, timeout=30)
    assert minted.status_code == 201, minted.text
    for n, agent in enumerate(agents):
        funded = httpx.post(
            f"{replicas[n % 2].url}/api/kip/transfers",
            json={"from": "treasury", "to": agent, "amount": 300},
            headers={"Idempotency-Key": f"fund-{run}-{n}"},
            timeout=30,
        )
        assert funded.status_code == 201, funded.text

    rng = random.Random(13)  # noqa: S311 - a reproducible workload, not secrets
    plan = [(f"move-{run}-{n}", *rng.sample(agents, 2), rng.randint(1, 120)) for n in range(40)]

    def send(attempt: tuple[int, int]) -> tuple[str, httpx.Response]:
        index, replica = attempt
        key, source, target, amount = plan[index]
        response = httpx.post(
            f"{replicas[replica].url}/api/kip/transfers",
            json={"from": source, "to": target, "amount": amount},
            headers={"Idempotency-Key": key},
            timeout=60,
        )
        return key, response

    # Every transfer goes to one replica and, at the same time, is retried on the other with the same key.
    attempts = [(index, (index + retry) % 2) for index in range(len(plan)) for retry in (0, 1)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(send, attempts))

    applied: dict[str, set[str]] = {}
    for key, response in results:
        assert response.status_code in (200, 201, 409), response.text
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "insufficient_funds"
            continue
        applied.setdefault(key, set()).add(response.json()["transaction"]["id"])
        if response.status_code == 200:
            assert response.headers["idempotent-replayed"] == "true"
    assert all(len(ids) == 1 for ids in applied.values()), "one key, one transaction, whichever replica answered"
    assert sum(1 for _, r in results if r.status_code == 201) == len(applied), "no key applied twice"
    assert len(applied) > len(plan) // 2  # most were affordable: value really moved under contention

    recorded = []
    after = 0
    while True:
        page = httpx.get(f"{second.url}/api/kip/transactions", params={"after": after, "limit": 500}, timeout=30).json()
        recorded += [tx for tx in page["items"] if (tx["idempotency_key"] or "").startswith(f"move-{run}-")]
        if page["next_cursor"] is None:
            break
        after = page["next_cursor"]
    assert sorted(tx["idempotency_key"] for tx in recorded) == sorted(applied)
    for replica in replicas:
        summary = httpx.get(f"{replica.url}/api/kip/treasury", timeout=30).json()
        assert summary["supply"] == summary["total"] == supply_before + 3000
        assert min(summary["accounts"].values()) >= 0
        assert sum(summary["accounts"][agent] for agent in agents) == 6 * 300


def test_a_question_answered_on_one_replica_is_a_cache_hit_on_the_other(
    replicas: tuple[ServiceProcess, ServiceProcess],
) -> None:
    question = f"What is the capital of France, case {uuid.uuid4().hex[:6]}?"
    answered = chat(replicas[0], question)
    assert answered.status_code == 200, answered.text
    assert not answered.json()["reason"].startswith("answered from the Pheromind cache")

    repeated = chat(replicas[1], question)

    assert repeated.status_code == 200, repeated.text
    assert repeated.json()["reason"].startswith("answered from the Pheromind cache")
    assert repeated.json()["answer"] == answered.json()["answer"]
    assert repeated.json()["timings"]["calls"] == [], "no model ran on the second replica"


def test_a_replica_killed_mid_turn_leaves_the_other_serving_and_the_thread_consistent(
    replicas: tuple[ServiceProcess, ServiceProcess],
    start_main_module: StartService,
    voice: ServiceProcess,
    replica_settings: dict[str, str],
) -> None:
    survivor = replicas[0]
    doomed = start_main_module(voice, **{**replica_settings, "COUNCIL_LLM__MAX_TOKENS": "2000"})
    hello = chat(survivor, "/fast Hello there.")
    assert hello.status_code == 200, hello.text
    thread = hello.json()["thread_id"]
    before = history(survivor, thread)

    with httpx.stream(
        "POST",
        f"{doomed.url}/api/chat/stream",
        json={"message": "/fast Write a very long story about the sea.", "thread_id": thread},
        timeout=TURN_TIMEOUT_S,
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: ") and json.loads(line[6:]).get("type") == "synthesis.delta":
                break  # the doomed replica holds the thread's lock and is generating
        doomed.stop(signal.SIGKILL)
    assert doomed.process is not None
    assert doomed.process.returncode == -signal.SIGKILL

    # The killed replica's session, and with it the thread's lock, ends with its process: the survivor takes it.
    after = chat(survivor, "/fast Still there?", thread)
    assert after.status_code == 200, after.text
    messages = history(survivor, thread)
    assert messages[: len(before)] == before
    assert messages[-2:] == [("user", "/fast Still there?"), ("assistant", after.json()["answer"])]
    assert all(role in ("user", "assistant") for role, _ in messages)
    assert httpx.get(f"{survivor.url}/health/ready", timeout=30).status_code == 200
