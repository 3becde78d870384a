"""The scale-out KIP store: TigerGraph through pyTigerGraph (REST++ upserts and reads, installed GSQL queries).

pyTigerGraph is synchronous, so every call runs on a small thread pool. Every conditional write (a movement, an
agent's creation or rename) is one installed query, which TigerGraph runs as one atomic transaction; because
TigerGraph isolates transactions only at read-committed, this store also sends those writes one at a time, so a
deployment keeps the invariants with one writing service instance (docs/kip.md, TigerGraph).
Set a graph up once with `python -m council.kip.stores.tigergraph_setup init` (the schema, the graph, its queries).
"""

import asyncio
import contextlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from pyTigerGraph.common.exception import TigerGraphException  # type: ignore[import-untyped]

from council.kip.agents import Agent, AgentCreate, AgentPatch
from council.kip.calls import (
    KEY_HELD_BY_A_MOVEMENT,
    StartedToolCall,
    ToolCallRecord,
    ToolCallStart,
    ToolCallState,
    ToolOutcome,
)
from council.kip.conversations import (
    Conversation,
    ConversationGraph,
    ExchangeCreate,
    RecordedExchange,
    title_of,
)
from council.kip.errors import (
    BudgetExceededError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    KipError,
    UnknownAccountError,
)
from council.kip.knowledge import KnowledgeCreate, KnowledgeItem, KnowledgeQuery
from council.kip.ledger import (
    TREASURY,
    AgentActivity,
    Posting,
    Receipt,
    TransactionPage,
    TransactionQuery,
)
from council.kip.stores._records import (
    agent_name_taken,
    exchange_messages,
    like_pattern,
    new_id,
    stored_knowledge,
    unknown_agent,
    unknown_agent_named,
    unknown_conversation,
)
from council.kip.stores._sqlite_connection import stamp
from council.kip.stores._tigergraph_rows import (
    Json,
    agent_from,
    connect,
    conversation_from,
    conversation_upsert,
    knowledge_from,
    knowledge_upsert,
    message_from,
    tool_call_from,
    transaction_from,
    vertex_upsert,
)
from council.kip.stores.base import KipStore, utc_now
from council.observability.correlation import current_request_id
from council.settings import TigerGraphSettings

LEDGER = "ledger"  # id of the Ledger vertex that holds the last seq and the supply
NOT_FOUND_CODE = "601"  # REST++: "The input vertex id … is not a valid vertex id" on a GET by id


class TigerGraphKipStore(KipStore):
    backend = "tigergraph"

    def __init__(
        self, settings: TigerGraphSettings, *, clock: Callable[[], datetime] = utc_now, workers: int = 4
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._conn: Any = None
        self._writer = asyncio.Lock()  # one conditional write at a time per store (see the module docstring)

    # ---- plumbing ----------------------------------------------------------------------------------------
    async def _call[T](self, work: Callable[[Any], T], *, to_the_end: bool = False) -> T:
        """Run `work` on the pool. `to_the_end` (writes): a cancelled caller returns only once the request has
        really ended, since its thread cannot be stopped and the server will apply it; so the writer lock the
        caller holds is never released under a request still in flight."""
        if self._executor is None:
            raise RuntimeError("The KIP store is not open.")
        conn = self._conn
        future = asyncio.get_running_loop().run_in_executor(self._executor, work, conn)
        return await (_to_the_end(future) if to_the_end else future)

    async def _query(self, name: str, params: Json) -> list[Json]:
        result: list[Json] = await self._call(lambda conn: conn.runInstalledQuery(name, params, usePost=True))
        return result

    async def _write_query(self, name: str, params: Json) -> list[Json]:
        async with self._writer:
            result: list[Json] = await self._call(
                lambda conn: conn.runInstalledQuery(name, params, usePost=True), to_the_end=True
            )
            return result

    async def _upsert(self, data: Json, *, vertex_must_exist: bool = False) -> None:
        await self._call(
            lambda conn: conn.upsertData(data, atomic=True, vertexMustExist=vertex_must_exist), to_the_end=True
        )

    async def _vertex_by_id(self, vertex_type: str, vertex_id: str) -> Json | None:
        def work(conn: Any) -> Json | None:
            try:
                found: list[Json] = conn.getVerticesById(vertex_type, vertex_id)
            except TigerGraphException as error:
                if str(error.code) == NOT_FOUND_CODE:
                    return None
                raise
            return found[0]["attributes"] if found else None

        return await self._call(work)

    async def _vertices(self, vertex_type: str) -> list[Json]:
        found: list[Json] = await self._call(lambda conn: conn.getVertices(vertex_type))
        return [vertex["attributes"] for vertex in found]

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="kip-tigergraph")
        try:
            self._conn = await self._call(lambda _: connect(self.settings))
            # "add 0" creates the treasury and the ledger counter if missing and never resets an existing value.
            zero = {"value": 0, "op": "add"}
            await self._upsert(
                {
                    "vertices": {
                        "Account": {TREASURY: {"kind": {"value": "treasury"}, "balance": zero}},
                        "Ledger": {LEDGER: {"last_seq": zero, "supply": zero}},
                    }
                }
            )
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._executor is None:
            return
        # Closed to callers first: one arriving while the store closes is refused ("not open") instead of sent on
        # the connection being closed. Requests made before run on, on their own threads, to their end.
        executor, conn = self._executor, self._conn
        self._executor, self._conn = None, None
        loop = asyncio.get_running_loop()
        try:
            if conn is not None:
                await loop.run_in_executor(executor, conn.close)
        finally:
            # Waiting for those requests blocks a thread, so not the loop's (the default pool's, reused); to the end
            # even if close is cancelled, so none of this pool's threads outlives it.
            await _to_the_end(loop.run_in_executor(None, executor.shutdown))

    async def ping(self) -> None:
        await self._call(lambda conn: conn.echo())

    # ---- agents ------------------------------------------------------------------------------------------
    async def create_agent(self, spec: AgentCreate, *, per_call_cap: int, daily_cap: int) -> Agent:
        agent_id = new_id("agt")
        [result] = await self._write_query(
            "kip_create_agent",
            {
                "agent_id": agent_id,
                "name": spec.name,
                "name_key": spec.name.lower(),
                "role": spec.role,
                "capabilities": json.dumps(spec.capabilities),
                "per_call_cap": per_call_cap,
                "daily_cap": daily_cap,
                "changed_at": stamp(self.clock()),
            },
        )
        if result["status"] == "name_taken":
            raise agent_name_taken(spec.name)
        return await self.get_agent(agent_id)

    async def get_agent(self, agent_id: str) -> Agent:
        attributes = await self._vertex_by_id("Agent", agent_id)
        if attributes is None:
            raise unknown_agent(agent_id)
        return agent_from(attributes, await self.balance(agent_id))

    async def find_agent(self, name: str) -> Agent:
        claim = await self._vertex_by_id("AgentName", name.lower())
        if claim is None:
            raise unknown_agent_named(name)
        return await self.get_agent(claim["agent_id"])

    async def list_agents(self) -> list[Agent]:
        balances = await self.balances()
        agents = [
            agent_from(attributes, balances.get(attributes["id"], 0)) for attributes in await self._vertices("Agent")
        ]
        return sorted(agents, key=lambda agent: (agent.created_at, agent.id))

    async def update_agent(self, agent_id: str, patch: AgentPatch) -> Agent:
        current = await self.get_agent(agent_id)
        merged = current.model_copy(update=patch.model_dump(exclude_none=True))
        [result] = await self._write_query(
            "kip_update_agent",
            {
                "agent_id": agent_id,
                "name": merged.name,
                "name_key": merged.name.lower(),
                "old_name_key": current.name.lower(),
                "role": merged.role,
                "capabilities": json.dumps(merged.capabilities),
                "status": str(merged.status),
                "per_call_cap": merged.per_call_cap,
                "daily_cap": merged.daily_cap,
                "changed_at": stamp(self.clock()),
            },
        )
        if result["status"] == "unknown_agent":
            raise unknown_agent(agent_id)
        if result["status"] == "name_taken":
            raise agent_name_taken(patch.name)
        return await self.get_agent(agent_id)

    # ---- ledger ------------------------------------------------------------------------------------------
    async def _post(self, posting: Posting) -> Receipt:
        now = self.clock()
        day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        [result] = await self._write_query(
            "kip_post",
            {
                "txn_id": new_id("txn"),
                "kind": posting.kind.value,
                "amount": posting.amount,
                "source": posting.source or "",
                "target": posting.target or "",
                "reason": posting.reason,
                "idempotency_key": posting.idempotency_key or "",
                "fingerprint": posting.fingerprint(),
                "request_id": current_request_id() or "",
                "created_at": stamp(now),
                "daily_cap": -1 if posting.daily_cap is None else posting.daily_cap,
                "day_start": stamp(day_start),
            },
        )
        status = result["status"]
        if status not in ("ok", "replayed"):
            raise _refusal("kip_post", status, result["detail"], posting)
        page = await self._transactions(txn_id=result["txn_id"], limit=1)
        return Receipt(transaction=page.items[0], replayed=status == "replayed")

    async def balances(self) -> dict[str, int]:
        return {attributes["id"]: attributes["balance"] for attributes in await self._vertices("Account")}

    async def balance(self, account: str) -> int:
        attributes = await self._vertex_by_id("Account", account)
        if attributes is None:
            raise UnknownAccountError(f"No account {account!r}.")
        value: int = attributes["balance"]
        return value

    async def supply(self) -> int:
        attributes = await self._vertex_by_id("Ledger", LEDGER)
        return 0 if attributes is None else int(attributes["supply"])

    async def _transactions(
        self, *, txn_id: str = "", limit: int, query: TransactionQuery | None = None
    ) -> TransactionPage:
        query = query or TransactionQuery(limit=limit)
        [result] = await self._query(
            "kip_transactions",
            {
                "txn_id": txn_id,
                "account": query.account or "",
                "kind": query.kind.value if query.kind else "",
                "since": stamp(query.since) if query.since else "",
                "until": stamp(query.until) if query.until else "",
                "after": query.after or 0,
                "lim": limit + 1,
            },
        )
        items = [transaction_from(vertex) for vertex in result["Txns"]]
        more = len(items) > limit
        items = items[:limit]
        return TransactionPage(items=items, next_cursor=items[-1].seq if more else None)

    async def transactions(self, query: TransactionQuery) -> TransactionPage:
        return await self._transactions(limit=query.limit, query=query)

    async def activity(self, since: datetime) -> list[AgentActivity]:
        [result] = await self._query("kip_activity", {"since": stamp(since)})
        return [
            AgentActivity(
                agent_id=vertex["v_id"],
                spent=vertex["attributes"]["@spent"],
                earned=vertex["attributes"]["@earned"],
                funded=vertex["attributes"]["@funded"],
                calls=vertex["attributes"]["@calls"],
                successes=vertex["attributes"]["@successes"],
            )
            for vertex in result["Agents"]
        ]

    # ---- tool calls and knowledge -----------------------------------------------------------------------
    async def _start_tool_call(self, start: ToolCallStart) -> StartedToolCall:
        now, charge = self.clock(), start.charge
        call_id, txn_id = new_id("call"), new_id("txn") if charge else ""
        [result] = await self._write_query(
            "kip_start_tool_call",
            {
                "call_id": call_id,
                "agent_id": start.agent_id,
                "tool": start.tool,
                "cost": start.cost,
                "call_key": start.idempotency_key or "",
                "call_fingerprint": start.fingerprint,
                "txn_id": txn_id,
                "reason": charge.reason if charge else "",
                "fingerprint": charge.fingerprint() if charge else "",
                "request_id": current_request_id() or "",
                "created_at": stamp(now),
                "daily_cap": -1 if charge is None or charge.daily_cap is None else charge.daily_cap,
                "day_start": stamp(now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)),
            },
        )
        match result["status"]:
            case "ok":
                record = ToolCallRecord(
                    id=call_id,
                    agent_id=start.agent_id,
                    tool=start.tool,
                    ok=False,
                    cost=start.cost,
                    transaction_id=txn_id or None,
                    created_at=now,
                    state=ToolCallState.RUNNING,
                    idempotency_key=start.idempotency_key,
                    fingerprint=start.fingerprint,
                    balance=result["balance"],
                )
                transaction = (await self._transactions(txn_id=txn_id, limit=1)).items[0] if charge else None
                return StartedToolCall(record=record, transaction=transaction, replayed=False)
            case "replayed":
                return await self._tool_call(result["call_id"])
            case "key_reused":
                raise IdempotencyKeyReusedError(KEY_HELD_BY_A_MOVEMENT)
            case "unknown_account":
                raise unknown_agent(start.agent_id)
            case status:
                assert charge is not None, status  # the other refusals are the charge's
                raise _refusal("kip_start_tool_call", status, result["detail"], charge)

    async def _tool_call(self, call_id: str) -> StartedToolCall:
        attributes = await self._vertex_by_id("ToolCall", call_id)
        if attributes is None:
            raise RuntimeError(f"No tool call {call_id!r}.")
        record = tool_call_from(attributes)
        transaction = None
        if record.transaction_id is not None:
            transaction = (await self._transactions(txn_id=record.transaction_id, limit=1)).items[0]
        return StartedToolCall(record=record, transaction=transaction, replayed=True)

    async def find_tool_call(self, idempotency_key: str) -> StartedToolCall | None:
        claim = await self._vertex_by_id("ToolCallKey", idempotency_key)
        return None if claim is None else await self._tool_call(claim["call_id"])

    async def finish_tool_call(self, call_id: str, outcome: ToolOutcome) -> ToolCallRecord:
        done = {"state": "done", "ok": outcome.ok, "output": outcome.output, "data": json.dumps(outcome.data)}
        await self._upsert(vertex_upsert("ToolCall", call_id, done))
        return (await self._tool_call(call_id)).record

    async def add_knowledge(self, item: KnowledgeCreate) -> KnowledgeItem:
        stored = stored_knowledge(item, self.clock())
        if stored.agent_id is not None:
            await self.get_agent(stored.agent_id)
        await self._upsert(knowledge_upsert(stored))
        return stored

    async def search_knowledge(self, query: KnowledgeQuery) -> list[KnowledgeItem]:
        [result] = await self._query(
            "kip_knowledge",
            {
                "pattern": like_pattern(query.text) if query.text else "",
                "topic_key": query.topic.lower() if query.topic else "",
                "kind": query.kind.value if query.kind else "",
                "source": query.source or "",
                "agent_id": query.agent_id or "",
                "lim": query.limit,
            },
        )
        return [knowledge_from(vertex["attributes"]) for vertex in result["Items"]]

    # ---- conversations -----------------------------------------------------------------------------------
    async def record_exchange(self, exchange: ExchangeCreate) -> RecordedExchange:
        now = self.clock()
        decision = stored_knowledge(exchange.decision_knowledge().as_knowledge(), now)
        thread_id = exchange.thread_id
        # The next positions are read, then written: under the writer lock no other exchange takes them meanwhile.
        async with self._writer:
            found = await self._vertex_by_id("Conversation", thread_id)
            # A bare Conversation vertex (created by knowledge naming it as its source) is not a recorded one yet.
            if found is not None and found["created_at"]:
                before = conversation_from(found)
                conversation = before.model_copy(
                    update={"message_count": before.message_count + 2, "updated_at": max(before.updated_at, now)}
                )
            else:
                conversation = Conversation(
                    thread_id=thread_id,
                    title=title_of(exchange.question),
                    message_count=2,
                    created_at=now,
                    updated_at=now,
                )
            messages = exchange_messages(exchange, conversation, decision, now)
            data = knowledge_upsert(decision)
            data["vertices"] |= conversation_upsert(conversation, messages)["vertices"]
            data["edges"]["Conversation"] = {thread_id: {"HAS_MESSAGE": {"Message": {m.id: {} for m in messages}}}}
            data["edges"]["Message"] = {messages[-1].id: {"DECIDED": {"Knowledge": {decision.id: {}}}}}
            await self._upsert(data)
        return RecordedExchange(conversation=conversation, messages=messages, decision=decision)

    async def conversation_graph(self, thread_id: str) -> ConversationGraph:
        [result] = await self._query("kip_conversation", {"thread_id": thread_id})
        conversations = [vertex["attributes"] for vertex in result["Convs"]]
        if not conversations or not conversations[0]["created_at"]:
            raise unknown_conversation(thread_id)
        return ConversationGraph.assemble(
            conversation_from(conversations[0]),
            [message_from(vertex["attributes"]) for vertex in result["Messages"]],
            [knowledge_from(vertex["attributes"]) for vertex in result["Derived"]],
        )

    async def delete_conversation(self, thread_id: str) -> bool:
        # One installed query, one transaction; as a write it waits for any record_exchange of the thread.
        [result] = await self._write_query("kip_delete_conversation", {"thread_id": thread_id})
        return bool(result["deleted"])


async def _to_the_end[T](future: asyncio.Future[T]) -> T:
    """Await `future`; a cancelled caller re-raises only once it has really ended (a thread cannot be stopped)."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await _until_done(future)
        raise


async def _until_done(future: asyncio.Future[Any]) -> None:
    """Wait for `future` through any further cancellation (re-raised by the caller), and retrieve its outcome."""
    while not future.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([future])
    if not future.cancelled():
        future.exception()  # its result goes nowhere: the caller was cancelled


def _refusal(query: str, status: str, detail: str, posting: Posting) -> KipError:
    """The KipError for a refused movement, as kip_post and kip_start_tool_call report them."""
    match status:
        case "key_reused":
            return IdempotencyKeyReusedError(
                "This Idempotency-Key was already used for a different movement; use a new key."
            )
        case "unknown_account":
            return UnknownAccountError(
                f"No account {posting.source!r} or {posting.target!r}: use 'treasury' or an agent id from"
                " GET /api/kip/agents."
            )
        case "insufficient_funds":
            return InsufficientFundsError(f"Account {posting.source!r} holds {detail}, {posting.amount} needed.")
        case "budget_exceeded":
            return BudgetExceededError(
                f"Agent {posting.source!r} spent {detail} today; {posting.amount} more passes its daily cap "
                f"of {posting.daily_cap}."
            )
    raise RuntimeError(f"{query} answered an unknown status {status!r}.")
