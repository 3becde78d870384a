"""What only the TigerGraph store needs proved: one shared schema, its init command, settings, concurrency.

The shared contract, property and tool suites already run against it (STORE_FACTORIES); these tests run against
the stand-in server of `tigergraph_standin.py`, not a real TigerGraph (see docs/kip.md, TigerGraph).
"""

import asyncio
import random
import re
import threading
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from council.kip import build_kip, open_kip
from council.kip.calls import ToolCallStart, ToolOutcome
from council.kip.conversations import ExchangeCreate
from council.kip.errors import InsufficientFundsError
from council.kip.knowledge import DecisionCreate, KnowledgeCreate, KnowledgeKind
from council.kip.ledger import TREASURY, Posting, Receipt, TransactionKind, TransactionQuery
from council.kip.stores._gsql import load_schema
from council.kip.stores.tigergraph import TigerGraphKipStore
from council.kip.stores.tigergraph_setup import main
from council.settings import KipSettings
from tests.kip.support import ManualClock, new_agent, tigergraph_graph, tigergraph_standin, tigergraph_store
from tests.kip.tigergraph_standin import kip_post

pytestmark = pytest.mark.anyio

SCHEMA = load_schema()


@pytest.fixture
async def store(clock: ManualClock, tmp_path: Path) -> AsyncIterator[TigerGraphKipStore]:
    """This module's store: TigerGraph, open, on a fresh graph of the stand-in."""
    store = tigergraph_store(tmp_path, clock)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def test_every_type_the_queries_use_is_declared_in_schema_gsql() -> None:
    declared = set(SCHEMA.vertices) | set(SCHEMA.edges)
    inserted = set(re.findall(r"INSERT INTO (\w+)", SCHEMA.queries_gsql))
    traversed = set(re.findall(r"-\((\w+)>", SCHEMA.queries_gsql))
    variables = set(re.findall(r"^\s*(\w+) = ", SCHEMA.queries_gsql, re.MULTILINE))
    selected = set(re.findall(r"FROM (\w+):\w+", SCHEMA.queries_gsql)) - variables
    seeded = set(re.findall(r'to_vertex_set\(@@\w+, "(\w+)"\)', SCHEMA.queries_gsql))
    traversed_to = set(re.findall(r"\)- (\w+):\w+", SCHEMA.queries_gsql))

    assert inserted <= declared
    assert traversed <= declared
    assert selected | seeded | traversed_to <= set(SCHEMA.vertices)
    assert seeded >= {"Account", "IdempotencyKey", "Ledger", "AgentName", "Agent", "Conversation", "ToolCallKey"}
    assert {"Account", "Agent", "LedgerTxn", "DEBITS", "CREDITS", "Tool", "ToolCall", "Knowledge"} <= declared


async def test_every_type_the_store_writes_is_declared_in_schema_gsql(store: TigerGraphKipStore) -> None:
    alpha = await new_agent(store, "alpha")
    await store.post(Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=10, idempotency_key="k"))
    await store.post(Posting(kind=TransactionKind.FUNDING, source=TREASURY, target=alpha.id, amount=5))
    charge = Posting(kind=TransactionKind.CHARGE, source=alpha.id, target=TREASURY, amount=1, idempotency_key="c")
    for start in (
        ToolCallStart(agent_id=alpha.id, tool="calculator", cost=0, charge=None, fingerprint="f"),
        ToolCallStart(agent_id=alpha.id, tool="notes", cost=1, charge=charge, idempotency_key="c", fingerprint="f"),
    ):
        started = await store.start_tool_call(start)
        await store.finish_tool_call(started.record.id, ToolOutcome(ok=True, output="ok"))
    await store.add_knowledge(KnowledgeCreate(kind=KnowledgeKind.NOTE, topic="t", content="c", agent_id=alpha.id))
    decision = DecisionCreate(question="q", outcome="o", answered_share=0.5, topic="t", thread_id="thread-1")
    await store.add_knowledge(decision.as_knowledge())
    await store.record_exchange(ExchangeCreate(thread_id="thread-1", question="q?", answer="a.", decision=decision))
    graph = tigergraph_standin().graphs[store.settings.graph]

    # The stand-in refuses undeclared types and attributes outright; this pins down that every write happened.
    assert graph.written <= set(SCHEMA.vertices) | set(SCHEMA.edges)
    assert graph.written >= {"Account", "Agent", "AgentName", "LedgerTxn", "IdempotencyKey", "ToolCall", "Tool"}
    assert graph.written >= {"Knowledge", "Conversation", "HOLDS", "NAMES", "DEBITS", "CREDITS", "KEYS", "CALLED"}
    assert graph.written >= {"OF_TOOL", "PAID_BY", "WROTE", "DERIVED_FROM", "Message", "HAS_MESSAGE", "DECIDED"}
    assert graph.written >= {"ToolCallKey", "KEYS_CALL"}


def test_the_standin_refuses_writes_the_schema_does_not_declare() -> None:
    from pyTigerGraph.common.exception import TigerGraphException

    from council.kip.stores.tigergraph import connect

    settings = tigergraph_graph()
    conn = connect(settings)
    try:
        with pytest.raises(TigerGraphException, match="not declared"):
            conn.upsertData({"vertices": {"Transaction": {"t1": {"amount": {"value": 1}}}}})
        with pytest.raises(TigerGraphException, match="not declared"):
            conn.upsertData({"vertices": {"Account": {"a1": {"owner": {"value": "x"}}}}})
        with pytest.raises(TigerGraphException, match="is INT"):
            conn.upsertData({"vertices": {"Account": {"a1": {"balance": {"value": "ten"}}}}})
        with pytest.raises(TigerGraphException, match="goes from LedgerTxn to Account"):
            conn.upsertData({"edges": {"Account": {"a1": {"DEBITS": {"LedgerTxn": {"t1": {"amount": {"value": 1}}}}}}}})
    finally:
        conn.close()


def test_the_init_command_creates_the_graph_and_installs_every_query(monkeypatch: pytest.MonkeyPatch) -> None:
    tigergraph_graph()  # the types exist now
    standin = tigergraph_standin()
    for name, value in {
        "HOST": standin.host,
        "RESTPP_PORT": str(standin.port),
        "GSQL_PORT": str(standin.port),
        "GRAPH": "kip_from_cli",
        "USERNAME": standin.username,
        "PASSWORD": standin.password,
    }.items():
        monkeypatch.setenv(f"COUNCIL_KIP__TIGERGRAPH__{name}", value)

    main(["init", "--types-exist"])

    assert set(standin.graphs["kip_from_cli"].queries) == set(SCHEMA.queries)


async def test_open_kip_selects_the_tigergraph_store_by_setting() -> None:
    tg = tigergraph_graph()

    async with open_kip(KipSettings(store="tigergraph", tigergraph=tg)) as kip:
        assert isinstance(kip.store, TigerGraphKipStore)
        assert (await kip.readiness_check()).status.value == "pass"


async def test_wrong_credentials_fail_at_open() -> None:
    settings = tigergraph_graph()
    store = TigerGraphKipStore(settings.model_copy(update={"password": SecretStr("wrong")}))
    # A 401 makes pyTigerGraph try to mint a token; the stand-in has no token endpoint, so that fails too.
    with pytest.raises(Exception, match="token"):
        await store.open()
    with pytest.raises(RuntimeError, match="not open"):
        await store.ping()


def _burn(txn_id: str, amount: int) -> dict[str, object]:
    """kip_post's parameters for burning `amount` from the treasury."""
    return {
        "txn_id": txn_id,
        "kind": "burn",
        "amount": amount,
        "source": TREASURY,
        "target": "",
        "reason": "test",
        "idempotency_key": "",
        "fingerprint": "",
        "request_id": "",
        "created_at": "2026-01-01T00:00:00.000000+00:00",
        "daily_cap": -1,
        "day_start": "",
    }


def test_the_standin_lets_two_concurrent_queries_read_one_balance_as_read_committed_does() -> None:
    # The premise of the concurrency test below: the stand-in does not serialize requests. Two kip_post calls
    # that overlap both read the treasury's 10 and both burn it, as TigerGraph's read-committed isolation allows;
    # each query stays atomic (all of a burn or none of it), which is all a real server promises.
    settings = tigergraph_graph()
    graph = tigergraph_standin().graphs[settings.graph]
    seed = graph.begin()
    seed.upsert_vertex("Account", TREASURY, {"kind": "treasury", "balance": 10})
    seed.upsert_vertex("Ledger", "ledger", {"supply": 10})
    graph.commit(seed)

    first, second = graph.begin(), graph.begin()
    answers = [kip_post(first, _burn("t1", 10)), kip_post(second, _burn("t2", 10))]
    graph.commit(first)
    graph.commit(second)

    assert [answer[0]["status"] for answer in answers] == ["ok", "ok"]
    assert graph.vertices["Account"][TREASURY]["balance"] == 0  # 20 burned from 10: one debit lost
    assert sorted(graph.vertices["LedgerTxn"]) == ["t1", "t2"]
    assert {t["seq"] for t in graph.vertices["LedgerTxn"].values()} == {1}  # and one seq taken twice


def test_a_failed_standin_request_writes_nothing() -> None:
    from pyTigerGraph.common.exception import TigerGraphException

    from council.kip.stores.tigergraph import connect

    settings = tigergraph_graph()
    conn = connect(settings)
    try:
        with pytest.raises(TigerGraphException, match="is INT"):
            conn.upsertData(
                {"vertices": {"Account": {"a1": {"balance": {"value": 5}}, "a2": {"balance": {"value": "x"}}}}}
            )
    finally:
        conn.close()

    assert tigergraph_standin().graphs[settings.graph].vertices.get("Account", {}) == {}


async def test_deleting_a_conversation_keeps_the_edges_of_an_account_with_the_same_id(
    store: TigerGraphKipStore,
) -> None:
    # Thread ids are the client's: one may be "treasury". Deleting its conversation deletes that Conversation
    # vertex's edges, not the treasury Account's legs.
    await store.post(Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=10))
    decision = DecisionCreate(question="q", outcome="o", answered_share=0.5, topic="t", thread_id=TREASURY)
    await store.record_exchange(ExchangeCreate(thread_id=TREASURY, question="q?", answer="a.", decision=decision))

    assert await store.delete_conversation(TREASURY)

    [mint] = (await store.transactions(TransactionQuery())).items
    assert [(leg.account, leg.side) for leg in mint.legs] == [(TREASURY, "credit")]
    assert await store.balance(TREASURY) == 10


async def test_concurrent_transfers_through_one_writer_conserve_value(store: TigerGraphKipStore) -> None:
    """900 transfers (100 of them retried keys) at once through one store, against a stand-in that serves requests
    concurrently with no more isolation than TigerGraph's read-committed (the test above): what keeps balances
    non-negative and conserved, seqs and keys unique, is the store's own writer lock (with it removed, this fails:
    debits are lost), together with each kip_post being one atomic query. What it cannot show, with no real
    TigerGraph here: that real GSQL's kip_post is atomic as its Python rendering is, or how a real server
    schedules concurrent queries; and it says nothing of two writing processes, which the lock does not cover."""
    standin = tigergraph_standin()
    standin.peak_in_flight = 0
    agents = [(await new_agent(store, f"agent{n}")).id for n in range(20)]
    await store.post(Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=10_000))
    for agent in agents:
        await store.post(Posting(kind=TransactionKind.FUNDING, source=TREASURY, target=agent, amount=100))
    rng = random.Random(7)  # noqa: S311 - a reproducible workload, not secrets
    postings = [
        Posting(
            kind=TransactionKind.TRANSFER,
            source=(pair := rng.sample(agents, 2))[0],
            target=pair[1],
            amount=rng.randint(1, 60),
            idempotency_key=f"t-{n}",
        )
        for n in range(800)
    ]
    submissions = postings + postings[:100]
    rng.shuffle(submissions)

    async def submit(posting: Posting) -> Receipt | None:
        try:
            return await store.post(posting)
        except InsufficientFundsError:
            return None

    receipts = [r for r in await asyncio.gather(*(submit(p) for p in submissions)) if r is not None]

    balances = await store.balances()
    assert min(balances.values()) >= 0
    assert sum(balances.values()) == await store.supply() == 10_000
    assert len(receipts) > 400
    page = await store.transactions(TransactionQuery(kind=TransactionKind.TRANSFER, limit=500))
    recorded = [tx.idempotency_key for tx in page.items]
    while page.next_cursor is not None:
        page = await store.transactions(
            TransactionQuery(kind=TransactionKind.TRANSFER, limit=500, after=page.next_cursor)
        )
        recorded += [tx.idempotency_key for tx in page.items]
    assert max(Counter(recorded).values()) == 1
    assert len(recorded) == len([r for r in receipts if not r.replayed])
    assert standin.peak_in_flight > 1  # the server did run requests side by side meanwhile


# An unlocked second writer reaches the server within milliseconds; waiting this long proves it did not.
OVERLAP_WINDOW_S = 1.0


async def test_a_cancelled_write_holds_the_writer_lock_until_its_request_has_really_ended(
    store: TigerGraphKipStore,
) -> None:
    standin = tigergraph_standin()
    hold = standin.hold(store.settings.graph, "kip_post")
    try:
        first = asyncio.create_task(
            store.post(Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=10))
        )
        assert await asyncio.to_thread(hold.arrived.wait, 10)
        first.cancel()  # the request is on the wire: its thread cannot be stopped, and the server will run it
        second = asyncio.create_task(
            store.post(Posting(kind=TransactionKind.MINT, source=None, target=TREASURY, amount=20))
        )
        overlapped = await asyncio.to_thread(hold.overlapped.wait, OVERLAP_WINDOW_S)
        hold.released.set()
        with pytest.raises(asyncio.CancelledError):
            await first
        await second

        assert (overlapped, hold.meanwhile) == (False, [])
        assert await store.supply() == 30  # the cancelled mint did run on the server, before the second one
        page = await store.transactions(TransactionQuery())
        assert [tx.amount for tx in page.items] == [10, 20]
    finally:
        hold.released.set()


async def test_a_tool_call_cancelled_while_its_charge_is_in_flight_is_finished_as_interrupted(
    store: TigerGraphKipStore,
) -> None:
    # The charge-and-record request cannot be called back once sent (the server applies it): a caller cancelled
    # meanwhile must still finish the call it recorded, or its key would answer 409 in_progress for ever.
    standin = tigergraph_standin()
    kip = build_kip(KipSettings(tool_price=2), store)
    try:
        agent = await new_agent(store, "worker", capabilities=["calculator"])
        await kip.treasury.mint(100)
        await kip.treasury.transfer(TREASURY, agent.id, 20)
        agent = await store.get_agent(agent.id)
        hold = standin.hold(store.settings.graph, "kip_start_tool_call")
        first = asyncio.create_task(kip.tools.call(agent, "calculator", "1+1", idempotency_key="call-1"))
        assert await asyncio.to_thread(hold.arrived.wait, 10)
        first.cancel()
        hold.released.set()
        with pytest.raises(asyncio.CancelledError):
            await first

        again = await kip.tools.call(agent, "calculator", "1+1", idempotency_key="call-1")

        assert (again.replayed, again.ok, again.cost) == (True, False, 2)
        assert "interrupted" in again.output
        assert await store.balance(agent.id) == 18  # charged once, and not again by the replay
    finally:
        hold.released.set()


async def test_a_call_made_while_the_store_closes_is_refused_not_sent_on_the_closing_connection(
    clock: ManualClock, tmp_path: Path
) -> None:
    # Shutdown meets a late caller (a readiness probe, the second request of a movement): it must get the store's
    # own "not open", never a request sent on the connection the close is already shutting.
    store = tigergraph_store(tmp_path, clock)
    await store.open()
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0)  # close has handed the connection's close to the pool and awaits it
    try:
        with pytest.raises(RuntimeError, match="not open"):
            await store.ping()
        with pytest.raises(RuntimeError, match="not open"):
            await store.add_knowledge(KnowledgeCreate(topic="late", content="after close began"))
    finally:
        await closing

    assert "Knowledge" not in tigergraph_standin().graphs[store.settings.graph].written


async def test_close_waits_off_the_loop_for_a_request_in_flight_which_still_ends(
    clock: ManualClock, tmp_path: Path
) -> None:
    store = tigergraph_store(tmp_path, clock)
    standin = tigergraph_standin()
    threads_before = set(threading.enumerate())
    await store.open()
    decision = DecisionCreate(question="q", outcome="o", answered_share=0.5, topic="t", thread_id="thread-1")
    await store.record_exchange(ExchangeCreate(thread_id="thread-1", question="q?", answer="a.", decision=decision))
    hold = standin.hold(store.settings.graph, "kip_delete_conversation")
    try:
        deleting = asyncio.create_task(store.delete_conversation("thread-1"))
        assert await asyncio.to_thread(hold.arrived.wait, 10)
        closing = asyncio.create_task(store.close())

        # A close that blocked the loop until the request ended could not let this wait time out first.
        done, _ = await asyncio.wait([closing], timeout=OVERLAP_WINDOW_S)
        assert (done, hold.finished.is_set()) == (set(), False)
        hold.released.set()
        await closing

        assert await deleting  # made before close: it ran to its end on the server
        assert "thread-1" not in standin.graphs[store.settings.graph].vertices["Conversation"]
        leftover = [t.name for t in set(threading.enumerate()) - threads_before if t.name.startswith("kip-tigergraph")]
        assert leftover == []  # close returned once the pool's threads had ended
    finally:
        hold.released.set()
        await store.close()
