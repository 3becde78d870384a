"""The contract every KIP store honours; runs against each implementation in STORE_FACTORIES."""

import asyncio
from datetime import timedelta

import pytest

from council.kip.agents import AgentCreate, AgentPatch, AgentStatus
from council.kip.calls import ToolCallStart, ToolCallState, ToolOutcome
from council.kip.conversations import MAX_MESSAGE_CHARS, ExchangeCreate, MessageRole
from council.kip.errors import (
    AgentNameTakenError,
    BudgetExceededError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidPostingError,
    UnknownAccountError,
    UnknownAgentError,
    UnknownConversationError,
)
from council.kip.knowledge import DecisionCreate, KnowledgeCreate, KnowledgeKind, KnowledgeQuery
from council.kip.ledger import TREASURY, Posting, TransactionKind, TransactionQuery
from council.kip.stores.base import KipStore
from council.observability.correlation import _request_id
from tests.kip.support import ManualClock, new_agent

pytestmark = pytest.mark.anyio


def transfer(source: str, target: str, amount: int, key: str | None = None, **extra: object) -> Posting:
    return Posting(
        kind=TransactionKind.TRANSFER, source=source, target=target, amount=amount, idempotency_key=key, **extra
    )


def mint(amount: int, key: str | None = None) -> Posting:
    return Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=amount, idempotency_key=key)


def tool_call(agent_id: str, cost: int, *, key: str | None = None, charge: Posting | None = None) -> ToolCallStart:
    if charge is None and cost:
        charge = Posting(
            kind=TransactionKind.CHARGE, source=agent_id, target=TREASURY, amount=cost, idempotency_key=key
        )
    fingerprint = ToolCallStart.fingerprint_of(agent_id, "calculator", "1")
    return ToolCallStart(
        agent_id=agent_id, tool="calculator", cost=cost, charge=charge, idempotency_key=key, fingerprint=fingerprint
    )


async def test_a_new_agent_has_an_account_with_balance_zero(store: KipStore) -> None:
    agent = await new_agent(store, "alpha", capabilities=["calculator"])

    assert agent.balance == 0
    assert agent.status is AgentStatus.ACTIVE
    assert (await store.balances())[agent.id] == 0
    assert await store.get_agent(agent.id) == agent
    assert await store.find_agent("ALPHA") == agent
    assert [a.id for a in await store.list_agents()] == [agent.id]


async def test_agent_names_are_unique_case_insensitively(store: KipStore) -> None:
    await new_agent(store, "alpha")
    with pytest.raises(AgentNameTakenError):
        await new_agent(store, "Alpha")
    beta = await new_agent(store, "beta")
    with pytest.raises(AgentNameTakenError):
        await store.update_agent(beta.id, AgentPatch(name="ALPHA"))


async def test_update_changes_only_given_fields_and_the_update_time(store: KipStore, clock: ManualClock) -> None:
    agent = await new_agent(store, "alpha", capabilities=["notes"])
    clock.advance(minutes=1)

    updated = await store.update_agent(agent.id, AgentPatch(status=AgentStatus.PAUSED, daily_cap=7))

    assert (updated.status, updated.daily_cap, updated.capabilities) == (AgentStatus.PAUSED, 7, ["notes"])
    assert updated.updated_at == clock() != agent.updated_at
    assert updated.created_at == agent.created_at


async def test_unknown_agents_are_reported_as_such(store: KipStore) -> None:
    with pytest.raises(UnknownAgentError):
        await store.get_agent("agt_missing")
    with pytest.raises(UnknownAgentError):
        await store.find_agent("nobody")
    with pytest.raises(UnknownAgentError):
        await store.update_agent("agt_missing", AgentPatch(role="x"))


async def test_mint_then_transfer_records_double_entry_legs(store: KipStore) -> None:
    agent = await new_agent(store, "alpha")
    token = _request_id.set("req-contract-1")
    try:
        await store.post(mint(100))
        receipt = await store.post(transfer(TREASURY, agent.id, 40, reason="seed"))
    finally:
        _request_id.reset(token)

    tx = receipt.transaction
    assert not receipt.replayed
    assert tx.request_id == "req-contract-1"
    assert sorted((leg.account, leg.side, leg.amount) for leg in tx.legs) == [
        (agent.id, "credit", 40),
        (TREASURY, "debit", 40),
    ]
    assert await store.balances() == {TREASURY: 60, agent.id: 40}
    assert await store.supply() == 100


async def test_a_transfer_over_the_balance_is_refused_and_moves_nothing(store: KipStore) -> None:
    agent = await new_agent(store, "alpha")
    await store.post(mint(10))

    with pytest.raises(InsufficientFundsError):
        await store.post(transfer(TREASURY, agent.id, 11))
    with pytest.raises(InsufficientFundsError):
        await store.post(Posting(kind=TransactionKind.BURN, source=TREASURY, target=None, amount=11))

    assert await store.balances() == {TREASURY: 10, agent.id: 0}
    assert len((await store.transactions(TransactionQuery())).items) == 1


@pytest.mark.parametrize(
    ("posting", "error"),
    [
        (transfer(TREASURY, "agt_nobody", 1), UnknownAccountError),
        (transfer(TREASURY, TREASURY, 1), InvalidPostingError),
        (transfer(TREASURY, "x", 0), InvalidPostingError),
        (transfer(TREASURY, "x", -5), InvalidPostingError),
        (Posting(kind=TransactionKind.MINT, source=TREASURY, target=None, amount=1), InvalidPostingError),
        (Posting(kind=TransactionKind.TRANSFER, source=None, target=TREASURY, amount=1), InvalidPostingError),
    ],
)
async def test_invalid_postings_are_refused(store: KipStore, posting: Posting, error: type[Exception]) -> None:
    await store.post(mint(10))
    with pytest.raises(error):
        await store.post(posting)
    assert await store.balances() == {TREASURY: 10}


async def test_a_repeated_idempotency_key_returns_the_original_and_moves_nothing(store: KipStore) -> None:
    agent = await new_agent(store, "alpha")
    await store.post(mint(100))

    first = await store.post(transfer(TREASURY, agent.id, 30, key="pay-1"))
    again = await store.post(transfer(TREASURY, agent.id, 30, key="pay-1"))

    assert again.replayed
    assert not first.replayed
    assert again.transaction == first.transaction
    assert await store.balances() == {TREASURY: 70, agent.id: 30}
    with pytest.raises(IdempotencyKeyReusedError):
        await store.post(transfer(TREASURY, agent.id, 31, key="pay-1"))


async def test_a_refused_posting_does_not_consume_its_idempotency_key(store: KipStore) -> None:
    agent = await new_agent(store, "alpha")
    with pytest.raises(InsufficientFundsError):
        await store.post(transfer(TREASURY, agent.id, 5, key="later"))
    await store.post(mint(5))

    receipt = await store.post(transfer(TREASURY, agent.id, 5, key="later"))

    assert not receipt.replayed
    assert await store.balance(agent.id) == 5


async def test_the_daily_cap_counts_spend_since_utc_midnight(store: KipStore, clock: ManualClock) -> None:
    agent = await new_agent(store, "alpha")
    await store.post(mint(100))
    await store.post(transfer(TREASURY, agent.id, 50))
    charge = {"kind": TransactionKind.CHARGE, "source": agent.id, "target": TREASURY, "daily_cap": 10}

    await store.post(Posting(amount=6, **charge))  # type: ignore[arg-type]
    with pytest.raises(BudgetExceededError):
        await store.post(Posting(amount=5, **charge))  # type: ignore[arg-type]
    clock.advance(hours=12)  # past midnight UTC
    await store.post(Posting(amount=5, **charge))  # type: ignore[arg-type]

    assert await store.balance(agent.id) == 39


async def test_transactions_page_and_filter(store: KipStore, clock: ManualClock) -> None:
    alpha, beta = await new_agent(store, "alpha"), await new_agent(store, "beta")
    await store.post(mint(100))
    for _ in range(3):
        await store.post(transfer(TREASURY, alpha.id, 1))
    clock.advance(hours=1)
    late = clock()
    await store.post(transfer(TREASURY, beta.id, 2))
    await store.post(transfer(alpha.id, beta.id, 1))

    first = await store.transactions(TransactionQuery(limit=4))
    rest = await store.transactions(TransactionQuery(limit=4, after=first.next_cursor))
    assert [tx.seq for tx in first.items + rest.items] == sorted({tx.seq for tx in first.items + rest.items})
    assert (len(first.items), len(rest.items), rest.next_cursor) == (4, 2, None)
    assert len((await store.transactions(TransactionQuery(account=beta.id))).items) == 2
    assert len((await store.transactions(TransactionQuery(kind=TransactionKind.MINT))).items) == 1
    assert len((await store.transactions(TransactionQuery(since=late))).items) == 2
    assert len((await store.transactions(TransactionQuery(until=late))).items) == 4


async def test_activity_splits_spend_earnings_funding_and_tool_outcomes(store: KipStore, clock: ManualClock) -> None:
    alpha = await new_agent(store, "alpha")
    await store.post(mint(100))
    await store.post(transfer(TREASURY, alpha.id, 20))  # before the window
    clock.advance(hours=2)
    since = clock()
    await store.post(Posting(kind=TransactionKind.FUNDING, source=TREASURY, target=alpha.id, amount=10))
    await store.post(Posting(kind=TransactionKind.REWARD, source=TREASURY, target=alpha.id, amount=7))
    charge = Posting(kind=TransactionKind.CHARGE, source=alpha.id, target=TREASURY, amount=3)
    for ok, start in ((True, tool_call(alpha.id, 0)), (False, tool_call(alpha.id, 3, charge=charge))):
        started = await store.start_tool_call(start)
        await store.finish_tool_call(started.record.id, ToolOutcome(ok=ok, output="done"))
    await store.start_tool_call(tool_call(alpha.id, 0))  # still running: a call, not a success

    [activity] = await store.activity(since)

    assert (activity.spent, activity.earned, activity.funded) == (3, 7, 10)
    assert (activity.calls, activity.successes) == (3, 1)
    [older] = await store.activity(since - timedelta(hours=3))
    assert older.funded == 30


async def test_a_tool_call_is_charged_and_recorded_running_together_then_finished(store: KipStore) -> None:
    alpha = await new_agent(store, "alpha")
    await store.post(mint(100))
    await store.post(transfer(TREASURY, alpha.id, 10))

    started = await store.start_tool_call(tool_call(alpha.id, 3, key="call-1"))
    running = await store.find_tool_call("call-1")
    finished = await store.finish_tool_call(started.record.id, ToolOutcome(ok=True, output="4", data={"n": 4}))
    replayed = await store.start_tool_call(tool_call(alpha.id, 3, key="call-1"))

    assert (started.replayed, started.record.state, started.record.balance) == (False, ToolCallState.RUNNING, 7)
    assert started.transaction is not None
    assert (started.transaction.kind, started.transaction.amount) == (TransactionKind.CHARGE, 3)
    assert started.record.transaction_id == started.transaction.id
    assert running is not None
    assert (running.replayed, running.record) == (True, started.record)
    assert (finished.state, finished.ok, finished.output, finished.data) == (ToolCallState.DONE, True, "4", {"n": 4})
    assert (replayed.replayed, replayed.record, replayed.transaction) == (True, finished, started.transaction)
    assert await store.balance(alpha.id) == 7  # charged once
    assert await store.find_tool_call("call-2") is None


async def test_a_refused_tool_call_charge_records_nothing(store: KipStore, clock: ManualClock) -> None:
    alpha = await new_agent(store, "alpha")

    with pytest.raises(InsufficientFundsError):
        await store.start_tool_call(tool_call(alpha.id, 3, key="call-1"))
    with pytest.raises(UnknownAgentError):
        await store.start_tool_call(tool_call("agt_missing", 0, key="call-2"))
    with pytest.raises(UnknownAgentError):  # the treasury has an account but is no agent (was SQLite's raw 500)
        await store.start_tool_call(tool_call(TREASURY, 0, key="call-3"))

    assert await store.find_tool_call("call-1") is None
    [activity] = await store.activity(clock() - timedelta(hours=1))
    assert (activity.calls, activity.spent) == (0, 0)


async def test_a_tool_call_key_already_held_by_a_movement_is_refused(store: KipStore) -> None:
    alpha = await new_agent(store, "alpha")
    await store.post(mint(100, key="shared"))
    await store.post(transfer(TREASURY, alpha.id, 10))

    with pytest.raises(IdempotencyKeyReusedError):
        await store.start_tool_call(tool_call(alpha.id, 3, key="shared"))

    assert await store.balance(alpha.id) == 10


async def test_knowledge_is_searchable_by_text_topic_kind_and_source(store: KipStore) -> None:
    agent = await new_agent(store, "alpha")
    await store.add_knowledge(KnowledgeCreate(topic="Redis", content="Use Lua for atomic deposits 100%"))
    await store.add_knowledge(
        KnowledgeCreate(kind=KnowledgeKind.NOTE, topic="todo", content="bench the ledger", agent_id=agent.id)
    )
    decision = DecisionCreate(
        question="SQLite or Postgres?",
        outcome="SQLite",
        answered_share=0.8,
        members=["a", "b"],
        topic="storage",
        thread_id="t-1",
    )
    await store.add_knowledge(decision.as_knowledge())

    assert [i.topic for i in await store.search_knowledge(KnowledgeQuery(text="LUA"))] == ["Redis"]
    assert [i.topic for i in await store.search_knowledge(KnowledgeQuery(text="100%"))] == ["Redis"]
    assert await store.search_knowledge(KnowledgeQuery(text="_")) == []
    [found] = await store.search_knowledge(KnowledgeQuery(source="t-1"))
    assert (found.kind, found.data["members"], found.data["answered_share"]) == (
        KnowledgeKind.DECISION,
        ["a", "b"],
        0.8,
    )
    [note] = await store.search_knowledge(KnowledgeQuery(kind=KnowledgeKind.NOTE))
    assert note.agent_id == agent.id
    assert len(await store.search_knowledge(KnowledgeQuery(topic="REDIS"))) == 1
    assert [i.id for i in await store.search_knowledge(KnowledgeQuery(agent_id=agent.id))] == [note.id]
    assert await store.search_knowledge(KnowledgeQuery(agent_id="agt_nobody")) == []


def exchange(thread_id: str, question: str, answer: str, *, topic: str = "storage") -> ExchangeCreate:
    decision = DecisionCreate(
        question=question[:20_000],
        outcome=answer[:20_000],
        reasoning="a: yes",
        answered_share=0.5,
        members=["a"],
        topic=topic,
    )
    return ExchangeCreate(thread_id=thread_id, question=question, answer=answer, decision=decision)


async def test_an_exchange_records_its_conversation_messages_and_decision(store: KipStore, clock: ManualClock) -> None:
    started = clock()
    first = await store.record_exchange(exchange("t-1", "  SQLite\nor Postgres?", "SQLite."))
    clock.advance(minutes=5)
    second = await store.record_exchange(exchange("t-1", "And for scale?", "TigerGraph.", topic="scale"))

    assert (first.conversation.title, first.conversation.message_count) == ("SQLite or Postgres?", 2)
    assert [(m.position, m.role, m.text) for m in first.messages] == [
        (0, MessageRole.USER, "  SQLite\nor Postgres?"),
        (1, MessageRole.COUNCIL, "SQLite."),
    ]
    assert (first.messages[0].decision_ids, first.messages[1].decision_ids) == ([], [first.decision.id])
    assert (first.decision.kind, first.decision.source, first.decision.content) == (
        KnowledgeKind.DECISION,
        "t-1",
        "SQLite.",
    )
    conversation = second.conversation
    assert (conversation.title, conversation.message_count) == ("SQLite or Postgres?", 4)
    assert (conversation.created_at, conversation.updated_at) == (started, clock())
    assert [m.position for m in second.messages] == [2, 3]


async def test_the_conversation_graph_links_messages_decisions_and_derived_knowledge(
    store: KipStore, clock: ManualClock
) -> None:
    agent = await new_agent(store, "alpha")
    first = await store.record_exchange(exchange("t-1", "SQLite or Postgres?", "SQLite."))
    clock.advance(seconds=1)
    second = await store.record_exchange(exchange("t-1", "And for scale?", "TigerGraph."))
    note = await store.add_knowledge(
        KnowledgeCreate(kind=KnowledgeKind.NOTE, topic="todo", content="bench it", source="t-1", agent_id=agent.id)
    )
    await store.record_exchange(exchange("t-2", "Elsewhere?", "Unrelated."))

    graph = await store.conversation_graph("t-1")

    assert graph.conversation == second.conversation
    assert graph.messages == first.messages + second.messages
    assert [d.id for d in graph.decisions] == [second.decision.id, first.decision.id]  # newest first
    assert graph.decisions[1] == first.decision
    assert graph.knowledge == [note]
    edges = {(e.type, e.source, e.target) for e in graph.edges}
    assert ("decided", second.messages[1].id, second.decision.id) in edges
    assert ("has_message", "t-1", first.messages[0].id) in edges
    assert {("derived_from", note.id, "t-1"), ("wrote", agent.id, note.id)} <= edges
    found = await store.search_knowledge(KnowledgeQuery(kind=KnowledgeKind.DECISION, source="t-1"))
    assert {d.id for d in found} == {first.decision.id, second.decision.id}


async def test_a_conversation_exists_from_its_first_recorded_exchange(store: KipStore) -> None:
    await store.add_knowledge(KnowledgeCreate(topic="t", content="a fact from an unrecorded chat", source="t-9"))

    for thread_id in ("t-9", "t-missing"):
        with pytest.raises(UnknownConversationError):
            await store.conversation_graph(thread_id)
    await store.record_exchange(exchange("t-9", "Now?", "Now."))

    graph = await store.conversation_graph("t-9")
    assert (graph.conversation.title, len(graph.messages), len(graph.decisions), len(graph.knowledge)) == (
        "Now?",
        2,
        1,
        1,
    )


async def test_a_long_message_is_kept_cut_and_marked_and_the_decision_follows_the_exchange(store: KipStore) -> None:
    long_question = "why " * (MAX_MESSAGE_CHARS // 4 + 10)
    spec = exchange("t-1", long_question, "Because.")
    spec.decision.thread_id = "some-other-thread"

    recorded = await store.record_exchange(spec)

    question, answer = (await store.conversation_graph("t-1")).messages
    assert (len(question.text), question.truncated, answer.truncated) == (MAX_MESSAGE_CHARS, True, False)
    assert question.text == long_question[:MAX_MESSAGE_CHARS]
    assert recorded.decision.source == "t-1"


async def test_concurrent_exchanges_in_one_conversation_take_distinct_positions(store: KipStore) -> None:
    await asyncio.gather(*(store.record_exchange(exchange("t-1", f"q{n}?", f"a{n}.")) for n in range(12)))

    graph = await store.conversation_graph("t-1")

    assert [m.position for m in graph.messages] == list(range(24))
    assert graph.conversation.message_count == 24
    pairs = {graph.messages[n].text[1:-1]: graph.messages[n + 1].text[1:-1] for n in range(0, 24, 2)}
    assert all(question == answer for question, answer in pairs.items())  # each answer right after its question
    assert len(graph.decisions) == 12


async def test_deleting_a_conversation_deletes_its_messages_decisions_and_derived_knowledge(
    store: KipStore,
) -> None:
    agent = await new_agent(store, "alpha")
    await store.record_exchange(exchange("t-1", "SQLite or Postgres?", "SQLite."))
    await store.record_exchange(exchange("t-1", "And for scale?", "TigerGraph."))
    await store.add_knowledge(
        KnowledgeCreate(kind=KnowledgeKind.NOTE, topic="todo", content="bench it", source="t-1", agent_id=agent.id)
    )
    kept = await store.record_exchange(exchange("t-2", "Elsewhere?", "Unrelated."))
    unrelated = await store.add_knowledge(KnowledgeCreate(topic="Redis", content="Lua"))
    await store.add_knowledge(KnowledgeCreate(topic="t", content="a fact from an unrecorded chat", source="t-9"))

    assert await store.delete_conversation("t-1") is True
    assert await store.delete_conversation("t-9") is True  # knowledge derived from it, though never recorded

    with pytest.raises(UnknownConversationError):
        await store.conversation_graph("t-1")
    everything = await store.search_knowledge(KnowledgeQuery(limit=200))
    assert {item.id for item in everything} == {kept.decision.id, unrelated.id}
    assert await store.search_knowledge(KnowledgeQuery(agent_id=agent.id)) == []  # the note went, with its edge
    assert (await store.conversation_graph("t-2")).messages == kept.messages
    assert await store.delete_conversation("t-1") is False  # nothing of it is left
    again = await store.record_exchange(exchange("t-1", "Fresh start?", "Yes."))  # the id starts over, empty
    assert (again.conversation.title, [m.position for m in again.messages]) == ("Fresh start?", [0, 1])
    assert len((await store.conversation_graph("t-1")).decisions) == 1


async def test_ping_answers_while_open(store: KipStore) -> None:
    await store.ping()
    spec = AgentCreate(name="x")
    assert (await store.create_agent(spec, per_call_cap=0, daily_cap=0)).per_call_cap == 0
