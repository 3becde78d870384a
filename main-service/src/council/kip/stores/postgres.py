"""The shared KIP store: PostgreSQL through a psycopg connection pool, safe under many writers on many replicas.

Every write is one READ COMMITTED transaction. The database enforces the invariants (CHECK balance >= 0, UNIQUE
idempotency keys, gapless ledger positions); the row locks below only order concurrent writers so that the store
answers with the right error before a constraint would refuse the write:
- a posting with an idempotency key first takes a transaction-scoped advisory lock on the key, so a concurrent
  retry waits and then replays the committed original instead of failing on the UNIQUE key;
- the accounts it touches are locked FOR UPDATE in id order (no deadlocks), so balance and daily-cap checks read
  what no other writer can change before this commit;
- its ledger position comes from the one `ledger_head` row, updated last, so positions follow commit order.
The schema lives in its own PostgreSQL schema (`kip` by default), migrated on open (_postgres_schema.py).
"""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, errors, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from council.kip.agents import Agent, AgentCreate, AgentPatch
from council.kip.calls import (
    KEY_HELD_BY_A_MOVEMENT,
    StartedToolCall,
    ToolCallRecord,
    ToolCallStart,
    ToolOutcome,
)
from council.kip.conversations import ConversationGraph, ExchangeCreate, RecordedExchange, title_of
from council.kip.errors import (
    IdempotencyKeyReusedError,
    InvalidPostingError,
    StorageFullError,
    UnknownAccountError,
)
from council.kip.knowledge import KnowledgeCreate, KnowledgeItem, KnowledgeQuery
from council.kip.ledger import (
    AgentActivity,
    Posting,
    Receipt,
    TransactionPage,
    TransactionQuery,
)
from council.kip.stores._postgres_ledger import lock_key, post_in
from council.kip.stores._postgres_rows import (
    POSTGRES,
    Connection,
    configure_connection,
    fetch_all,
    fetch_one,
    insert_knowledge,
    load_agent,
    load_tool_call,
    load_transactions,
)
from council.kip.stores._postgres_schema import migrate
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
from council.kip.stores._sql_rows import (
    AGENT_SELECT,
    agent_changes,
    agent_from_row,
    agent_insert,
    conversation_from_row,
    knowledge_from_row,
    knowledge_select,
    message_from_row,
    messages_insert,
    tool_call_finish,
    tool_call_insert,
    transaction_page_select,
)
from council.kip.stores.base import KipStore, utc_now
from council.observability.correlation import current_request_id


class PostgresKipStore(KipStore):
    backend = "postgres"

    def __init__(
        self,
        url: str,
        *,
        schema: str = "kip",
        pool_size: int = 10,
        connect_timeout_s: float = 10.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._url = url
        self.schema = schema
        self._pool_size = pool_size
        self._connect_timeout_s = connect_timeout_s
        self.clock = clock
        self._pool: AsyncConnectionPool[Connection] | None = None

    # ---- plumbing ----------------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        pool = AsyncConnectionPool(
            self._url,
            connection_class=AsyncConnection[dict[str, Any]],
            min_size=1,
            max_size=self._pool_size,
            kwargs={
                "autocommit": True,  # transactions are explicit (`_write`, `_read`)
                "row_factory": dict_row,
                "options": f"-c search_path={self.schema} -c timezone=UTC",  # schema name is validated by settings
            },
            configure=configure_connection,
            check=AsyncConnectionPool.check_connection,  # after a database restart, hand out no dead connection
            timeout=self._connect_timeout_s,  # a request (or readiness probe) waits this long for a connection
            open=False,
        )
        await pool.open(wait=True, timeout=self._connect_timeout_s)
        try:
            async with pool.connection() as conn:
                await migrate(conn, self.schema)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @contextlib.asynccontextmanager
    async def _transaction(self, *, read_only: bool) -> AsyncIterator[Connection]:
        if self._pool is None:
            raise RuntimeError("The KIP store is not open.")
        async with self._pool.connection() as conn, conn.transaction():
            if read_only:  # one snapshot for every statement of a read
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    async def _read[T](self, work: Callable[[Connection], Awaitable[T]]) -> T:
        async with self._transaction(read_only=True) as conn:
            return await work(conn)

    async def _write[T](self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """Run `work` as one write transaction, keeping `write_fault` current (set by a full disk, cleared after)."""
        try:
            async with self._transaction(read_only=False) as conn:
                result = await work(conn)
        except errors.DiskFull as error:
            self.write_fault = f"The KIP database has no room for a write ({error}): free disk space on its server."
            raise StorageFullError(self.write_fault) from error
        self.write_fault = None
        return result

    async def ping(self) -> None:
        if self.write_fault is None:
            await self._read(lambda conn: conn.execute("SELECT 1"))
            return
        # After a write failed for lack of room, readiness asks whether one fits now: a new version of the ledger
        # head's row (a real WAL write), committed. Success clears the fault.
        await self._write(lambda conn: conn.execute("UPDATE ledger_head SET last_seq = last_seq"))

    # ---- agents ------------------------------------------------------------------------------------------
    async def create_agent(self, spec: AgentCreate, *, per_call_cap: int, daily_cap: int) -> Agent:
        agent_id = new_id("agt")
        now = self.clock()

        async def work(conn: Connection) -> Agent:
            await conn.execute("INSERT INTO accounts (id, kind, balance) VALUES (%s, 'agent', 0)", (agent_id,))
            await conn.execute(*agent_insert(agent_id, spec, per_call_cap, daily_cap, now, POSTGRES))
            return await load_agent(conn, agent_id)

        return await self._write_agent(work, spec.name)

    async def _write_agent(self, work: Callable[[Connection], Awaitable[Agent]], name: str | None) -> Agent:
        """Write an agent: a name another agent already holds (a unique violation) is `AgentNameTakenError`."""
        try:
            return await self._write(work)
        except errors.UniqueViolation as error:
            raise agent_name_taken(name) from error

    async def get_agent(self, agent_id: str) -> Agent:
        return await self._read(lambda conn: load_agent(conn, agent_id))

    async def find_agent(self, name: str) -> Agent:
        async def work(conn: Connection) -> Agent:
            named = POSTGRES.equals_folded.format(column="a.name")
            row = await fetch_one(conn, POSTGRES.sql(f"{AGENT_SELECT} WHERE {named}"), (name,))
            if row is None:
                raise unknown_agent_named(name)
            return agent_from_row(row, POSTGRES)

        return await self._read(work)

    async def list_agents(self) -> list[Agent]:
        async def work(conn: Connection) -> list[Agent]:
            rows = await fetch_all(conn, AGENT_SELECT + " ORDER BY a.created_at, a.id")
            return [agent_from_row(row, POSTGRES) for row in rows]

        return await self._read(work)

    async def update_agent(self, agent_id: str, patch: AgentPatch) -> Agent:
        changes = agent_changes(patch, self.clock(), POSTGRES)
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder()) for column in changes
        )

        async def work(conn: Connection) -> Agent:
            await conn.execute("SELECT id FROM agents WHERE id = %s FOR UPDATE", (agent_id,))
            await load_agent(conn, agent_id)
            await conn.execute(
                sql.SQL("UPDATE agents SET {} WHERE id = %s").format(assignments), (*changes.values(), agent_id)
            )
            return await load_agent(conn, agent_id)

        return await self._write_agent(work, patch.name)

    # ---- ledger ------------------------------------------------------------------------------------------
    async def _post(self, posting: Posting) -> Receipt:
        request_id, now = current_request_id(), self.clock()
        try:
            return await self._write(lambda conn: post_in(conn, posting, request_id, now, schema=self.schema))
        except errors.IntegrityError as error:  # a constraint caught what the checks above did not foresee
            raise InvalidPostingError(f"The ledger refused the movement: {error}.") from error

    async def balances(self) -> dict[str, int]:
        async def work(conn: Connection) -> dict[str, int]:
            return {row["id"]: row["balance"] for row in await fetch_all(conn, "SELECT id, balance FROM accounts")}

        return await self._read(work)

    async def balance(self, account: str) -> int:
        async def work(conn: Connection) -> int:
            row = await fetch_one(conn, "SELECT balance FROM accounts WHERE id = %s", (account,))
            if row is None:
                raise UnknownAccountError(f"No account {account!r}.")
            value: int = row["balance"]
            return value

        return await self._read(work)

    async def supply(self) -> int:
        async def work(conn: Connection) -> int:
            row = await fetch_one(
                conn,
                "SELECT COALESCE(SUM(CASE kind WHEN 'mint' THEN amount WHEN 'burn' THEN -amount ELSE 0 END), 0)::bigint"
                " AS supply FROM transactions",
            )
            assert row is not None
            value: int = row["supply"]
            return value

        return await self._read(work)

    async def transactions(self, query: TransactionQuery) -> TransactionPage:
        statement, params = transaction_page_select(query, POSTGRES)

        async def work(conn: Connection) -> TransactionPage:
            seqs = [row["seq"] for row in await fetch_all(conn, statement, params)]
            more = len(seqs) > query.limit
            items = await load_transactions(conn, seqs[: query.limit])
            return TransactionPage(items=items, next_cursor=items[-1].seq if more else None)

        return await self._read(work)

    async def activity(self, since: datetime) -> list[AgentActivity]:
        async def work(conn: Connection) -> list[AgentActivity]:
            found = {
                row["id"]: AgentActivity(agent_id=row["id"]) for row in await fetch_all(conn, "SELECT id FROM agents")
            }
            for row in await fetch_all(
                conn,
                "SELECT l.account,"
                " SUM(l.amount) FILTER (WHERE l.side = 'debit')::bigint AS spent,"
                " SUM(l.amount) FILTER (WHERE l.side = 'credit' AND t.kind = 'reward')::bigint AS earned,"
                " SUM(l.amount) FILTER (WHERE l.side = 'credit' AND t.kind <> 'reward')::bigint AS funded"
                " FROM legs l JOIN transactions t ON t.seq = l.seq"
                " WHERE l.account <> 'treasury' AND t.created_at >= %s GROUP BY l.account",
                (since,),
            ):
                entry = found[row["account"]]
                entry.spent, entry.earned, entry.funded = row["spent"] or 0, row["earned"] or 0, row["funded"] or 0
            for row in await fetch_all(
                conn,
                "SELECT agent_id, COUNT(*) AS calls, COUNT(*) FILTER (WHERE ok) AS successes FROM tool_calls"
                " WHERE created_at >= %s GROUP BY agent_id",
                (since,),
            ):
                found[row["agent_id"]].calls, found[row["agent_id"]].successes = row["calls"], row["successes"]
            return list(found.values())

        return await self._read(work)

    # ---- tool calls and knowledge -----------------------------------------------------------------------
    async def _start_tool_call(self, start: ToolCallStart) -> StartedToolCall:
        request_id, now = current_request_id(), self.clock()

        async def work(conn: Connection) -> StartedToolCall:
            if start.idempotency_key is not None:
                await lock_key(conn, start.idempotency_key, schema=self.schema)
                known = await load_tool_call(conn, "idempotency_key", start.idempotency_key)
                if known is not None:
                    return known
            transaction = None
            if start.charge is not None:
                receipt = await post_in(conn, start.charge, request_id, now, schema=self.schema)
                if receipt.replayed:  # the key paid for a movement, but no tool call holds it: not this call
                    raise IdempotencyKeyReusedError(KEY_HELD_BY_A_MOVEMENT)
                transaction = receipt.transaction
            balance = await fetch_one(conn, "SELECT balance FROM accounts WHERE id = %s", (start.agent_id,))
            if balance is None:
                raise unknown_agent(start.agent_id)
            record = running_call(start, transaction, balance["balance"], now)
            await conn.execute(*tool_call_insert(record, POSTGRES))
            return StartedToolCall(record=record, transaction=transaction, replayed=False)

        try:
            return await self._write(work)
        except errors.IntegrityError as error:
            raise InvalidPostingError(f"The ledger refused the tool call's charge: {error}.") from error

    async def find_tool_call(self, idempotency_key: str) -> StartedToolCall | None:
        return await self._read(lambda conn: load_tool_call(conn, "idempotency_key", idempotency_key))

    async def finish_tool_call(self, call_id: str, outcome: ToolOutcome) -> ToolCallRecord:
        async def work(conn: Connection) -> ToolCallRecord:
            await conn.execute(*tool_call_finish(call_id, outcome, POSTGRES))
            found = await load_tool_call(conn, "id", call_id)
            if found is None:
                raise RuntimeError(f"No tool call {call_id!r} to finish.")
            return found.record

        return await self._write(work)

    async def add_knowledge(self, item: KnowledgeCreate) -> KnowledgeItem:
        stored = stored_knowledge(item, self.clock())
        await self._write(lambda conn: insert_knowledge(conn, stored))
        return stored

    async def search_knowledge(self, query: KnowledgeQuery) -> list[KnowledgeItem]:
        statement, params = knowledge_select(query, POSTGRES)

        async def work(conn: Connection) -> list[KnowledgeItem]:
            return [knowledge_from_row(row, POSTGRES) for row in await fetch_all(conn, statement, params)]

        return await self._read(work)

    # ---- conversations -----------------------------------------------------------------------------------
    async def record_exchange(self, exchange: ExchangeCreate) -> RecordedExchange:
        now = self.clock()
        decision = stored_knowledge(exchange.decision_knowledge().as_knowledge(), now)

        async def work(conn: Connection) -> RecordedExchange:
            # The upsert locks the conversation's row until commit: concurrent exchanges get consecutive positions.
            row = await fetch_one(
                conn,
                "INSERT INTO conversations AS c VALUES (%s, %s, 2, %s, %s) ON CONFLICT (thread_id) DO UPDATE"
                " SET message_count = c.message_count + 2, updated_at = GREATEST(c.updated_at, excluded.updated_at)"
                " RETURNING *",
                (exchange.thread_id, title_of(exchange.question), now, now),
            )
            assert row is not None
            conversation = conversation_from_row(row, POSTGRES)
            made = exchange_messages(exchange, conversation, decision, now)
            async with conn.cursor() as cursor:
                await cursor.executemany(*messages_insert(made, POSTGRES))
            await insert_knowledge(conn, decision)
            ids = [m.id for m in made]
            await conn.execute("INSERT INTO decided VALUES (%s, %s)", (ids[-1], decision.id))
            rows = await fetch_all(conn, "SELECT * FROM messages WHERE id = ANY(%s) ORDER BY position", (ids,))
            messages = [message_from_row(r, [decision.id] if r["id"] == ids[-1] else [], POSTGRES) for r in rows]
            return RecordedExchange(conversation=conversation, messages=messages, decision=decision)

        return await self._write(work)

    async def conversation_graph(self, thread_id: str) -> ConversationGraph:
        async def work(conn: Connection) -> ConversationGraph:
            row = await fetch_one(conn, "SELECT * FROM conversations WHERE thread_id = %s", (thread_id,))
            if row is None:
                raise unknown_conversation(thread_id)
            decided: dict[str, list[str]] = {}
            for edge in await fetch_all(
                conn,
                "SELECT d.message_id, d.knowledge_id FROM decided d JOIN messages m ON m.id = d.message_id"
                " WHERE m.thread_id = %s ORDER BY d.knowledge_id",
                (thread_id,),
            ):
                decided.setdefault(edge["message_id"], []).append(edge["knowledge_id"])
            messages = [
                message_from_row(message, decided.get(message["id"], []), POSTGRES)
                for message in await fetch_all(
                    conn, "SELECT * FROM messages WHERE thread_id = %s ORDER BY position", (thread_id,)
                )
            ]
            derived = [
                knowledge_from_row(item, POSTGRES)
                for item in await fetch_all(
                    conn, "SELECT * FROM knowledge WHERE source = %s ORDER BY created_at DESC, id", (thread_id,)
                )
            ]
            return ConversationGraph.assemble(conversation_from_row(row, POSTGRES), messages, derived)

        return await self._read(work)

    async def delete_conversation(self, thread_id: str) -> bool:
        async def work(conn: Connection) -> bool:
            # Edges first (foreign keys): every `decided` edge of the thread's messages or of knowledge derived from it.
            await conn.execute(
                "DELETE FROM decided WHERE message_id IN (SELECT id FROM messages WHERE thread_id = %s)"
                " OR knowledge_id IN (SELECT id FROM knowledge WHERE source = %s)",
                (thread_id, thread_id),
            )
            deleted = 0
            for statement in (
                "DELETE FROM knowledge WHERE source = %s",
                "DELETE FROM messages WHERE thread_id = %s",
                "DELETE FROM conversations WHERE thread_id = %s",
            ):
                cursor = await conn.execute(statement, (thread_id,))
                deleted += cursor.rowcount
            return deleted > 0

        return await self._write(work)
