"""The KIP store over SQL, each query written once: SQLite and PostgreSQL supply their connections, transactions and
the ledger writes whose SQL truly differs (how a movement takes its ledger position, how writers are ordered)."""

import abc
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from council.kip.agents import Agent, AgentCreate, AgentPatch
from council.kip.calls import KEY_HELD_BY_A_MOVEMENT, StartedToolCall, ToolCallRecord, ToolCallStart, ToolOutcome
from council.kip.conversations import ConversationGraph, ExchangeCreate, RecordedExchange, title_of
from council.kip.errors import IdempotencyKeyReusedError, InvalidPostingError, UnknownAccountError
from council.kip.knowledge import KnowledgeCreate, KnowledgeItem, KnowledgeQuery
from council.kip.ledger import AgentActivity, Posting, Receipt, Transaction, TransactionPage, TransactionQuery
from council.kip.stores._ledger_checks import capped_day_start, check_daily_cap, check_funds, check_replay
from council.kip.stores._records import (
    agent_name_taken,
    exchange_messages,
    new_id,
    running_call,
    stored_knowledge,
    unknown_agent,
    unknown_agent_named,
    unknown_conversation,
)
from council.kip.stores._sql_connection import SqlConnection
from council.kip.stores._sql_reads import load_agent, load_tool_call, load_transactions, spent_since
from council.kip.stores._sql_rows import (
    AGENT_SELECT,
    Dialect,
    agent_changes,
    agent_from_row,
    agent_insert,
    conversation_from_row,
    knowledge_from_row,
    knowledge_insert,
    knowledge_select,
    message_from_row,
    messages_insert,
    tool_call_finish,
    tool_call_insert,
    transaction_page_select,
)
from council.kip.stores.base import KipStore
from council.observability.correlation import current_request_id

type Work[T] = Callable[[SqlConnection], Coroutine[Any, Any, T]]


class SqlKipStore(KipStore):
    """Every store method as one read or one write transaction of `Work` on a `SqlConnection`."""

    dialect: Dialect
    name_conflict: type[Exception]
    """What the database raises when an agent's name is taken (a unique constraint)."""
    integrity_error: type[Exception]
    """What the database raises for any broken constraint: a movement or tool call charge it refuses is
    InvalidPostingError."""

    # ---- what each database does its own way ---------------------------------------------------------------
    @abc.abstractmethod
    async def _read[T](self, work: Work[T]) -> T:
        """Run `work` in one read transaction."""

    @abc.abstractmethod
    async def _write[T](self, work: Work[T]) -> T:
        """Run `work` in one write transaction, keeping `write_fault` current."""

    @abc.abstractmethod
    async def _lock_key(self, conn: SqlConnection, key: str) -> None:
        """Hold back other writers of this idempotency key until the transaction ends."""

    @abc.abstractmethod
    async def _append(
        self, conn: SqlConnection, posting: Posting, fingerprint: str, request_id: str | None, now: datetime
    ) -> Transaction:
        """Write a checked movement: its transaction at the next ledger position, its legs and both balances."""

    # ---- agents ------------------------------------------------------------------------------------------
    async def create_agent(self, spec: AgentCreate, *, per_call_cap: int, daily_cap: int) -> Agent:
        agent_id, now, dialect = new_id("agt"), self.clock(), self.dialect

        async def work(conn: SqlConnection) -> Agent:
            await conn.execute(
                dialect.sql("INSERT INTO accounts (id, kind, balance) VALUES (?, 'agent', 0)"), (agent_id,)
            )
            try:
                await conn.execute(*agent_insert(agent_id, spec, per_call_cap, daily_cap, now, dialect))
            except self.name_conflict as error:
                raise agent_name_taken(spec.name) from error
            return await load_agent(conn, agent_id, dialect)

        return await self._write(work)

    async def get_agent(self, agent_id: str) -> Agent:
        return await self._read(lambda conn: load_agent(conn, agent_id, self.dialect))

    async def find_agent(self, name: str) -> Agent:
        dialect = self.dialect

        async def work(conn: SqlConnection) -> Agent:
            named = dialect.equals_folded.format(column="a.name")
            row = await conn.fetchone(dialect.sql(f"{AGENT_SELECT} WHERE {named}"), (name,))
            if row is None:
                raise unknown_agent_named(name)
            return agent_from_row(row, dialect)

        return await self._read(work)

    async def list_agents(self) -> list[Agent]:
        async def work(conn: SqlConnection) -> list[Agent]:
            rows = await conn.fetchall(AGENT_SELECT + " ORDER BY a.created_at, a.id")
            return [agent_from_row(row, self.dialect) for row in rows]

        return await self._read(work)

    async def update_agent(self, agent_id: str, patch: AgentPatch) -> Agent:
        dialect = self.dialect
        changes = agent_changes(patch, self.clock(), dialect)
        assignments = ", ".join(f"{column} = ?" for column in changes)  # columns come from AgentPatch only

        async def work(conn: SqlConnection) -> Agent:
            # Holds the agent's row until commit on PostgreSQL (SQLite's write transaction holds the whole file).
            await conn.execute(dialect.sql(f"SELECT id FROM agents WHERE id = ?{dialect.row_lock}"), (agent_id,))  # noqa: S608  # a fixed suffix
            await load_agent(conn, agent_id, dialect)
            try:
                await conn.execute(
                    dialect.sql(f"UPDATE agents SET {assignments} WHERE id = ?"),  # noqa: S608  # fixed columns
                    (*changes.values(), agent_id),
                )
            except self.name_conflict as error:
                raise agent_name_taken(patch.name) from error
            return await load_agent(conn, agent_id, dialect)

        return await self._write(work)

    # ---- ledger ------------------------------------------------------------------------------------------
    async def _post(self, posting: Posting) -> Receipt:
        request_id, now = current_request_id(), self.clock()  # read here: SQLite's thread does not see this context
        try:
            return await self._write(lambda conn: self._record(conn, posting, request_id, now))
        except self.integrity_error as error:  # a constraint caught what the checks did not foresee
            raise InvalidPostingError(f"The ledger refused the movement: {error}.") from error

    async def _record(self, conn: SqlConnection, posting: Posting, request_id: str | None, now: datetime) -> Receipt:
        """Record one movement inside the caller's write transaction, or replay the original one for a known key."""
        dialect, fingerprint, key = self.dialect, posting.fingerprint(), posting.idempotency_key
        if key is not None:
            await self._lock_key(conn, key)
            row = await conn.fetchone(
                dialect.sql("SELECT seq, fingerprint FROM transactions WHERE idempotency_key = ?"), (key,)
            )
            if row is not None:
                check_replay(row["fingerprint"], fingerprint)
                return Receipt(transaction=(await load_transactions(conn, [row["seq"]], dialect))[0], replayed=True)
        # In id order: PostgreSQL locks the rows as it reads them, and writers that lock in one order never deadlock.
        accounts = sorted({account for account in (posting.source, posting.target) if account is not None})
        rows = await conn.fetchall(
            dialect.sql(
                f"SELECT id, balance FROM accounts WHERE id IN ({dialect.marks(len(accounts))})"  # noqa: S608  # placeholders only
                f" ORDER BY id{dialect.row_lock}"
            ),
            accounts,
        )
        check_funds(posting, {row["id"]: row["balance"] for row in rows})
        day_start = capped_day_start(posting, now)
        if day_start is not None:
            assert posting.source is not None  # a capped posting has a source
            check_daily_cap(posting, await spent_since(conn, posting.source, day_start, dialect))
        transaction = await self._append(conn, posting, fingerprint, request_id, now)
        return Receipt(transaction=transaction, replayed=False)

    async def balances(self) -> dict[str, int]:
        async def work(conn: SqlConnection) -> dict[str, int]:
            return {
                row["id"]: row["balance"] for row in await conn.fetchall("SELECT id, balance FROM accounts ORDER BY id")
            }

        return await self._read(work)

    async def balance(self, account: str) -> int:
        async def work(conn: SqlConnection) -> int:
            row = await conn.fetchone(self.dialect.sql("SELECT balance FROM accounts WHERE id = ?"), (account,))
            if row is None:
                raise UnknownAccountError(f"No account {account!r}.")
            value: int = row["balance"]
            return value

        return await self._read(work)

    async def supply(self) -> int:
        async def work(conn: SqlConnection) -> int:
            # CAST: PostgreSQL's SUM of BIGINT is NUMERIC, which psycopg reads as a Decimal.
            row = await conn.fetchone(
                "SELECT CAST(COALESCE(SUM(CASE kind WHEN 'mint' THEN amount WHEN 'burn' THEN -amount ELSE 0 END), 0)"
                " AS BIGINT) AS supply FROM transactions"
            )
            assert row is not None  # an aggregate has one row
            value: int = row["supply"]
            return value

        return await self._read(work)

    async def transactions(self, query: TransactionQuery) -> TransactionPage:
        statement, params = transaction_page_select(query, self.dialect)

        async def work(conn: SqlConnection) -> TransactionPage:
            seqs = [row["seq"] for row in await conn.fetchall(statement, params)]
            more = len(seqs) > query.limit
            items = await load_transactions(conn, seqs[: query.limit], self.dialect)
            return TransactionPage(items=items, next_cursor=items[-1].seq if more else None)

        return await self._read(work)

    async def activity(self, since: datetime) -> list[AgentActivity]:
        dialect = self.dialect
        moment = dialect.dump_time(since)

        async def work(conn: SqlConnection) -> list[AgentActivity]:
            found = {
                row["id"]: AgentActivity(agent_id=row["id"]) for row in await conn.fetchall("SELECT id FROM agents")
            }
            for row in await conn.fetchall(
                dialect.sql(
                    "SELECT l.account,"
                    " CAST(SUM(CASE WHEN l.side = 'debit' THEN l.amount ELSE 0 END) AS BIGINT) AS spent,"
                    " CAST(SUM(CASE WHEN l.side = 'credit' AND t.kind = 'reward' THEN l.amount ELSE 0 END) AS BIGINT)"
                    " AS earned,"
                    " CAST(SUM(CASE WHEN l.side = 'credit' AND t.kind <> 'reward' THEN l.amount ELSE 0 END) AS BIGINT)"
                    " AS funded"
                    " FROM legs l JOIN transactions t ON t.seq = l.seq"
                    " WHERE l.account <> 'treasury' AND t.created_at >= ? GROUP BY l.account"
                ),
                (moment,),
            ):
                entry = found[row["account"]]
                entry.spent, entry.earned, entry.funded = row["spent"], row["earned"], row["funded"]
            for row in await conn.fetchall(
                dialect.sql(
                    "SELECT agent_id, COUNT(*) AS calls, COUNT(CASE WHEN ok THEN 1 END) AS successes FROM tool_calls"
                    " WHERE created_at >= ? GROUP BY agent_id"
                ),
                (moment,),
            ):
                found[row["agent_id"]].calls, found[row["agent_id"]].successes = row["calls"], row["successes"]
            return list(found.values())

        return await self._read(work)

    # ---- tool calls and knowledge -----------------------------------------------------------------------
    async def _start_tool_call(self, start: ToolCallStart) -> StartedToolCall:
        request_id, now, dialect = current_request_id(), self.clock(), self.dialect

        async def work(conn: SqlConnection) -> StartedToolCall:
            if start.idempotency_key is not None:
                await self._lock_key(conn, start.idempotency_key)
                known = await load_tool_call(conn, "idempotency_key", start.idempotency_key, dialect)
                if known is not None:
                    return known
            transaction = None
            if start.charge is not None:
                receipt = await self._record(conn, start.charge, request_id, now)
                if receipt.replayed:  # the key paid for a movement, but no tool call holds it: not this call
                    raise IdempotencyKeyReusedError(KEY_HELD_BY_A_MOVEMENT)
                transaction = receipt.transaction
            balance = await conn.fetchone(  # an agent's account: the treasury's is not one
                dialect.sql("SELECT balance FROM accounts WHERE id = ? AND kind = 'agent'"), (start.agent_id,)
            )
            if balance is None:
                raise unknown_agent(start.agent_id)
            record = running_call(start, transaction, balance["balance"], now)
            await conn.execute(*tool_call_insert(record, dialect))
            return StartedToolCall(record=record, transaction=transaction, replayed=False)

        try:
            return await self._write(work)
        except self.integrity_error as error:
            raise InvalidPostingError(f"The ledger refused the tool call's charge: {error}.") from error

    async def find_tool_call(self, idempotency_key: str) -> StartedToolCall | None:
        return await self._read(lambda conn: load_tool_call(conn, "idempotency_key", idempotency_key, self.dialect))

    async def finish_tool_call(self, call_id: str, outcome: ToolOutcome) -> ToolCallRecord:
        async def work(conn: SqlConnection) -> ToolCallRecord:
            await conn.execute(*tool_call_finish(call_id, outcome, self.dialect))
            found = await load_tool_call(conn, "id", call_id, self.dialect)
            if found is None:
                raise RuntimeError(f"No tool call {call_id!r} to finish.")
            return found.record

        return await self._write(work)

    async def add_knowledge(self, item: KnowledgeCreate) -> KnowledgeItem:
        stored = stored_knowledge(item, self.clock())
        await self._write(lambda conn: self._insert_knowledge(conn, stored))
        return stored

    async def _insert_knowledge(self, conn: SqlConnection, item: KnowledgeItem) -> None:
        if item.agent_id is not None:
            await load_agent(conn, item.agent_id, self.dialect)  # an unknown author is UnknownAgentError
        await conn.execute(*knowledge_insert(item, self.dialect))

    async def search_knowledge(self, query: KnowledgeQuery) -> list[KnowledgeItem]:
        statement, params = knowledge_select(query, self.dialect)

        async def work(conn: SqlConnection) -> list[KnowledgeItem]:
            return [knowledge_from_row(row, self.dialect) for row in await conn.fetchall(statement, params)]

        return await self._read(work)

    # ---- conversations -----------------------------------------------------------------------------------
    async def record_exchange(self, exchange: ExchangeCreate) -> RecordedExchange:
        now, dialect = self.clock(), self.dialect
        decision = stored_knowledge(exchange.decision_knowledge().as_knowledge(), now)
        moment = dialect.dump_time(now)

        async def work(conn: SqlConnection) -> RecordedExchange:
            # On PostgreSQL the upsert locks the conversation's row until commit: concurrent exchanges get
            # consecutive positions (SQLite's write transaction holds the whole database).
            row = await conn.fetchone(
                dialect.sql(
                    "INSERT INTO conversations AS c VALUES (?, ?, 2, ?, ?) ON CONFLICT (thread_id) DO UPDATE"
                    " SET message_count = c.message_count + 2, updated_at = CASE"
                    " WHEN excluded.updated_at > c.updated_at THEN excluded.updated_at ELSE c.updated_at END"
                    " RETURNING *"
                ),
                (exchange.thread_id, title_of(exchange.question), moment, moment),
            )
            assert row is not None  # an upsert returns its row
            conversation = conversation_from_row(row, dialect)
            made = exchange_messages(exchange, conversation, decision, now)
            await conn.executemany(*messages_insert(made, dialect))
            await self._insert_knowledge(conn, decision)
            ids = [m.id for m in made]
            await conn.execute(dialect.sql("INSERT INTO decided VALUES (?, ?)"), (ids[-1], decision.id))
            rows = await conn.fetchall(
                dialect.sql(f"SELECT * FROM messages WHERE id IN ({dialect.marks(len(ids))}) ORDER BY position"),  # noqa: S608  # placeholders only
                ids,
            )
            messages = [message_from_row(r, [decision.id] if r["id"] == ids[-1] else [], dialect) for r in rows]
            return RecordedExchange(conversation=conversation, messages=messages, decision=decision)

        return await self._write(work)

    async def conversation_graph(self, thread_id: str) -> ConversationGraph:
        dialect = self.dialect

        async def work(conn: SqlConnection) -> ConversationGraph:
            row = await conn.fetchone(dialect.sql("SELECT * FROM conversations WHERE thread_id = ?"), (thread_id,))
            if row is None:
                raise unknown_conversation(thread_id)
            decided: dict[str, list[str]] = {}
            for edge in await conn.fetchall(
                dialect.sql(
                    "SELECT d.message_id, d.knowledge_id FROM decided d JOIN messages m ON m.id = d.message_id"
                    " WHERE m.thread_id = ? ORDER BY d.knowledge_id"
                ),
                (thread_id,),
            ):
                decided.setdefault(edge["message_id"], []).append(edge["knowledge_id"])
            messages = [
                message_from_row(message, decided.get(message["id"], []), dialect)
                for message in await conn.fetchall(
                    dialect.sql("SELECT * FROM messages WHERE thread_id = ? ORDER BY position"), (thread_id,)
                )
            ]
            derived = [
                knowledge_from_row(item, dialect)
                for item in await conn.fetchall(
                    dialect.sql("SELECT * FROM knowledge WHERE source = ? ORDER BY created_at DESC, id"), (thread_id,)
                )
            ]
            return ConversationGraph.assemble(conversation_from_row(row, dialect), messages, derived)

        return await self._read(work)

    async def delete_conversation(self, thread_id: str) -> bool:
        dialect = self.dialect

        async def work(conn: SqlConnection) -> bool:
            # Edges first (foreign keys): every `decided` edge of the thread's messages or of knowledge derived from it.
            await conn.execute(
                dialect.sql(
                    "DELETE FROM decided WHERE message_id IN (SELECT id FROM messages WHERE thread_id = ?)"
                    " OR knowledge_id IN (SELECT id FROM knowledge WHERE source = ?)"
                ),
                (thread_id, thread_id),
            )
            deleted = 0
            for statement in (
                "DELETE FROM knowledge WHERE source = ?",
                "DELETE FROM messages WHERE thread_id = ?",
                "DELETE FROM conversations WHERE thread_id = ?",
            ):
                deleted += await conn.execute(dialect.sql(statement), (thread_id,))
            return deleted > 0

        return await self._write(work)
