"""The embedded KIP store: SQLite in WAL mode on one worker thread; every write is one IMMEDIATE transaction.

A write refused for lack of room (SQLITE_FULL: a full disk or a size cap) is a StorageFullError (507) and is
remembered as `write_fault`, which fails readiness until a write, or the write probe readiness then runs, succeeds.
A read refused for lack of room (a sort spilled to a full temporary directory) is a 507 too, never remembered.
"""

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Literal

from council.kip.agents import Agent, AgentCreate, AgentPatch
from council.kip.calls import (
    KEY_HELD_BY_A_MOVEMENT,
    StartedToolCall,
    ToolCallRecord,
    ToolCallStart,
    ToolOutcome,
)
from council.kip.conversations import (
    ConversationGraph,
    ExchangeCreate,
    RecordedExchange,
    title_of,
)
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
from council.kip.stores._schema import SCHEMA, upgrade
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
from council.kip.stores._sqlite_rows import (
    SQLITE,
    insert_knowledge,
    load_agent,
    load_tool_call,
    load_transactions,
    spent_since,
    stamp,
    write,
)
from council.kip.stores.base import KipStore, utc_now
from council.observability.correlation import current_request_id

DATABASE_FILE = "kip.sqlite3"


class SqliteKipStore(KipStore):
    backend = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_s: float = 5.0,
        durability: Literal["full", "normal"] = "full",
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._durability = durability
        self.clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    # ---- plumbing ----------------------------------------------------------------------------------------
    async def _run[T](self, work: Callable[[sqlite3.Connection], T], *, writes: bool = False) -> T:
        if self._executor is None or self._conn is None:
            raise RuntimeError("The KIP store is not open.")
        conn = self._conn
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._tracked, work, conn, writes)

    async def _write[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` as one write transaction: the only calls whose SQLITE_FULL is remembered as `write_fault`."""
        return await self._run(lambda conn: write(conn, work), writes=True)

    def _tracked[T](self, work: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection, writes: bool) -> T:
        """Run `work`, keeping `write_fault` current: set by a write's SQLITE_FULL, cleared by any write that changed
        rows. A read's SQLITE_FULL (its temporary files found no room) says nothing of whether a write fits."""
        changes = conn.total_changes
        try:
            result = work(conn)
        except sqlite3.Error as error:
            code = getattr(error, "sqlite_errorcode", None) or 0  # absent on errors the sqlite3 module raises itself
            if code & 0xFF != sqlite3.SQLITE_FULL:  # the primary code of an extended one
                raise
            if not writes:
                raise StorageFullError(
                    f"The KIP store has no room for a read's temporary files ({error}): free disk space where"
                    " SQLite keeps them (SQLITE_TMPDIR, else TMPDIR or /tmp)."
                ) from error
            self.write_fault = f"The KIP database is full ({error}): free disk space, or raise the file's size cap."
            raise StorageFullError(self.write_fault) from error
        if conn.total_changes != changes:
            self.write_fault = None
        return result

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._durability.upper()}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(SCHEMA)
        write(conn, upgrade)
        return conn

    async def open(self) -> None:
        if self._executor is not None:
            return
        # One thread owns the connection: statements of concurrent coroutines never interleave mid-transaction.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kip-sqlite")
        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(self._executor, self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        if self._executor is None:
            return
        # Closed to callers first: one arriving while the connection closes is refused ("not open") instead of
        # queued behind the close onto a shut connection. Calls made before run first (one thread, in order).
        executor, conn = self._executor, self._conn
        self._executor, self._conn = None, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)

    async def ping(self) -> None:
        if self.write_fault is None:
            await self._run(lambda conn: conn.execute("SELECT 1").fetchone())
            return

        # After a write failed for lack of room, readiness asks whether one fits now: 64 KiB of new pages (more
        # than any one KIP write), committed and freed again in one transaction. Success clears the fault.
        def probe(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO write_probe (filler) VALUES (zeroblob(65536))")
            conn.execute("DELETE FROM write_probe")

        await self._write(probe)

    # ---- agents ------------------------------------------------------------------------------------------
    async def create_agent(self, spec: AgentCreate, *, per_call_cap: int, daily_cap: int) -> Agent:
        agent_id = new_id("agt")
        now = self.clock()

        def work(conn: sqlite3.Connection) -> Agent:
            conn.execute("INSERT INTO accounts (id, kind, balance) VALUES (?, 'agent', 0)", (agent_id,))
            try:
                conn.execute(*agent_insert(agent_id, spec, per_call_cap, daily_cap, now, SQLITE))
            except sqlite3.IntegrityError as error:
                raise agent_name_taken(spec.name) from error
            return load_agent(conn, agent_id)

        return await self._write(work)

    async def get_agent(self, agent_id: str) -> Agent:
        return await self._run(lambda conn: load_agent(conn, agent_id))

    async def find_agent(self, name: str) -> Agent:
        def work(conn: sqlite3.Connection) -> Agent:
            named = SQLITE.equals_folded.format(column="a.name")
            row = conn.execute(SQLITE.sql(f"{AGENT_SELECT} WHERE {named}"), (name,)).fetchone()
            if row is None:
                raise unknown_agent_named(name)
            return agent_from_row(row, SQLITE)

        return await self._run(work)

    async def list_agents(self) -> list[Agent]:
        def work(conn: sqlite3.Connection) -> list[Agent]:
            rows = conn.execute(AGENT_SELECT + " ORDER BY a.created_at, a.id").fetchall()
            return [agent_from_row(row, SQLITE) for row in rows]

        return await self._run(work)

    async def update_agent(self, agent_id: str, patch: AgentPatch) -> Agent:
        changes = agent_changes(patch, self.clock(), SQLITE)

        def work(conn: sqlite3.Connection) -> Agent:
            load_agent(conn, agent_id)
            assignments = ", ".join(f"{column} = ?" for column in changes)  # columns come from AgentPatch only
            try:
                conn.execute(f"UPDATE agents SET {assignments} WHERE id = ?", (*changes.values(), agent_id))  # noqa: S608
            except sqlite3.IntegrityError as error:
                raise agent_name_taken(patch.name) from error
            return load_agent(conn, agent_id)

        return await self._write(work)

    # ---- ledger ------------------------------------------------------------------------------------------
    async def _post(self, posting: Posting) -> Receipt:
        request_id = current_request_id()  # read here: the worker thread does not see this task's context
        now = self.clock()
        try:
            return await self._write(lambda c: self._post_sync(c, posting, request_id, now))
        except sqlite3.IntegrityError as error:  # a constraint caught what the checks above did not foresee
            raise InvalidPostingError(f"The ledger refused the movement: {error}.") from error

    def _post_sync(self, conn: sqlite3.Connection, posting: Posting, request_id: str | None, now: datetime) -> Receipt:
        fingerprint = posting.fingerprint()
        if posting.idempotency_key is not None:
            row = conn.execute(
                "SELECT seq, fingerprint FROM transactions WHERE idempotency_key = ?", (posting.idempotency_key,)
            ).fetchone()
            if row is not None:
                check_replay(row["fingerprint"], fingerprint)
                return Receipt(transaction=load_transactions(conn, [row["seq"]])[0], replayed=True)
        balances: dict[str, int] = {}
        for account in (posting.source, posting.target):
            if account is not None:
                found = conn.execute("SELECT balance FROM accounts WHERE id = ?", (account,)).fetchone()
                if found is not None:
                    balances[account] = found["balance"]
        check_funds(posting, balances)
        day_start = capped_day_start(posting, now)
        if day_start is not None:
            assert posting.source is not None  # a capped posting has a source
            check_daily_cap(posting, spent_since(conn, posting.source, day_start))
        cursor = conn.execute(
            "INSERT INTO transactions (id, kind, amount, source, target, reason, idempotency_key, fingerprint,"
            " request_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new_id("txn"),
                posting.kind.value,
                posting.amount,
                posting.source,
                posting.target,
                posting.reason,
                posting.idempotency_key,
                fingerprint,
                request_id,
                stamp(now),
            ),
        )
        seq = cursor.lastrowid
        assert seq is not None
        if posting.source is not None:
            conn.execute("INSERT INTO legs VALUES (?, ?, 'debit', ?)", (seq, posting.source, posting.amount))
            conn.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (posting.amount, posting.source))
        if posting.target is not None:
            conn.execute("INSERT INTO legs VALUES (?, ?, 'credit', ?)", (seq, posting.target, posting.amount))
            conn.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (posting.amount, posting.target))
        return Receipt(transaction=load_transactions(conn, [seq])[0], replayed=False)

    async def balances(self) -> dict[str, int]:
        def work(conn: sqlite3.Connection) -> dict[str, int]:
            return {row["id"]: row["balance"] for row in conn.execute("SELECT id, balance FROM accounts ORDER BY id")}

        return await self._run(work)

    async def balance(self, account: str) -> int:
        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT balance FROM accounts WHERE id = ?", (account,)).fetchone()
            if row is None:
                raise UnknownAccountError(f"No account {account!r}.")
            value: int = row["balance"]
            return value

        return await self._run(work)

    async def supply(self) -> int:
        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT COALESCE(SUM(CASE kind WHEN 'mint' THEN amount WHEN 'burn' THEN -amount ELSE 0 END), 0)"
                " FROM transactions"
            ).fetchone()
            value: int = row[0]
            return value

        return await self._run(work)

    async def transactions(self, query: TransactionQuery) -> TransactionPage:
        sql, params = transaction_page_select(query, SQLITE)

        def work(conn: sqlite3.Connection) -> TransactionPage:
            seqs = [row[0] for row in conn.execute(sql, params)]
            more = len(seqs) > query.limit
            items = load_transactions(conn, seqs[: query.limit])
            return TransactionPage(items=items, next_cursor=items[-1].seq if more else None)

        return await self._run(work)

    async def activity(self, since: datetime) -> list[AgentActivity]:
        since_stamp = stamp(since)

        def work(conn: sqlite3.Connection) -> list[AgentActivity]:
            found = {row[0]: AgentActivity(agent_id=row[0]) for row in conn.execute("SELECT id FROM agents")}
            for row in conn.execute(
                "SELECT l.account,"
                " SUM(CASE WHEN l.side = 'debit' THEN l.amount ELSE 0 END),"
                " SUM(CASE WHEN l.side = 'credit' AND t.kind = 'reward' THEN l.amount ELSE 0 END),"
                " SUM(CASE WHEN l.side = 'credit' AND t.kind <> 'reward' THEN l.amount ELSE 0 END)"
                " FROM legs l JOIN transactions t ON t.seq = l.seq"
                " WHERE l.account <> 'treasury' AND t.created_at >= ? GROUP BY l.account",
                (since_stamp,),
            ):
                entry = found[row[0]]
                entry.spent, entry.earned, entry.funded = row[1], row[2], row[3]
            for row in conn.execute(
                "SELECT agent_id, COUNT(*), SUM(ok) FROM tool_calls WHERE created_at >= ? GROUP BY agent_id",
                (since_stamp,),
            ):
                found[row[0]].calls, found[row[0]].successes = row[1], row[2]
            return list(found.values())

        return await self._run(work)

    # ---- tool calls and knowledge -----------------------------------------------------------------------
    async def _start_tool_call(self, start: ToolCallStart) -> StartedToolCall:
        request_id = current_request_id()  # read here: the worker thread does not see this task's context
        now = self.clock()

        def work(conn: sqlite3.Connection) -> StartedToolCall:
            if start.idempotency_key is not None:
                known = load_tool_call(conn, "idempotency_key", start.idempotency_key)
                if known is not None:
                    return known
            transaction = None
            if start.charge is not None:
                receipt = self._post_sync(conn, start.charge, request_id, now)
                if receipt.replayed:  # the key paid for a movement, but no tool call holds it: not this call
                    raise IdempotencyKeyReusedError(KEY_HELD_BY_A_MOVEMENT)
                transaction = receipt.transaction
            balance = conn.execute("SELECT balance FROM accounts WHERE id = ?", (start.agent_id,)).fetchone()
            if balance is None:
                raise unknown_agent(start.agent_id)
            record = running_call(start, transaction, balance[0], now)
            conn.execute(*tool_call_insert(record, SQLITE))
            return StartedToolCall(record=record, transaction=transaction, replayed=False)

        return await self._write(work)

    async def find_tool_call(self, idempotency_key: str) -> StartedToolCall | None:
        return await self._run(lambda conn: load_tool_call(conn, "idempotency_key", idempotency_key))

    async def finish_tool_call(self, call_id: str, outcome: ToolOutcome) -> ToolCallRecord:
        def work(conn: sqlite3.Connection) -> ToolCallRecord:
            conn.execute(*tool_call_finish(call_id, outcome, SQLITE))
            found = load_tool_call(conn, "id", call_id)
            if found is None:
                raise RuntimeError(f"No tool call {call_id!r} to finish.")
            return found.record

        return await self._write(work)

    async def add_knowledge(self, item: KnowledgeCreate) -> KnowledgeItem:
        stored = stored_knowledge(item, self.clock())

        await self._write(lambda c: insert_knowledge(c, stored))
        return stored

    async def search_knowledge(self, query: KnowledgeQuery) -> list[KnowledgeItem]:
        sql, params = knowledge_select(query, SQLITE)

        def work(conn: sqlite3.Connection) -> list[KnowledgeItem]:
            return [knowledge_from_row(row, SQLITE) for row in conn.execute(sql, params)]

        return await self._run(work)

    # ---- conversations -----------------------------------------------------------------------------------
    async def record_exchange(self, exchange: ExchangeCreate) -> RecordedExchange:
        now = self.clock()
        decision = stored_knowledge(exchange.decision_knowledge().as_knowledge(), now)
        thread_id = exchange.thread_id

        def work(conn: sqlite3.Connection) -> RecordedExchange:
            conn.execute(
                "INSERT INTO conversations VALUES (?, ?, 2, ?, ?) ON CONFLICT (thread_id) DO UPDATE"
                " SET message_count = message_count + 2, updated_at = max(updated_at, excluded.updated_at)",
                (thread_id, title_of(exchange.question), stamp(now), stamp(now)),
            )
            conversation = conversation_from_row(
                conn.execute("SELECT * FROM conversations WHERE thread_id = ?", (thread_id,)).fetchone(), SQLITE
            )
            made = exchange_messages(exchange, conversation, decision, now)
            conn.executemany(*messages_insert(made, SQLITE))
            insert_knowledge(conn, decision)
            ids = [m.id for m in made]
            conn.execute("INSERT INTO decided VALUES (?, ?)", (ids[-1], decision.id))
            rows = conn.execute("SELECT * FROM messages WHERE id IN (?, ?) ORDER BY position", ids).fetchall()
            messages = [message_from_row(row, [decision.id] if row["id"] == ids[-1] else [], SQLITE) for row in rows]
            return RecordedExchange(conversation=conversation, messages=messages, decision=decision)

        return await self._write(work)

    async def conversation_graph(self, thread_id: str) -> ConversationGraph:
        def work(conn: sqlite3.Connection) -> ConversationGraph:
            row = conn.execute("SELECT * FROM conversations WHERE thread_id = ?", (thread_id,)).fetchone()
            if row is None:
                raise unknown_conversation(thread_id)
            decided: dict[str, list[str]] = {}
            for edge in conn.execute(
                "SELECT d.message_id, d.knowledge_id FROM decided d JOIN messages m ON m.id = d.message_id"
                " WHERE m.thread_id = ? ORDER BY d.knowledge_id",
                (thread_id,),
            ):
                decided.setdefault(edge[0], []).append(edge[1])
            messages = [
                message_from_row(message, decided.get(message["id"], []), SQLITE)
                for message in conn.execute(
                    "SELECT * FROM messages WHERE thread_id = ? ORDER BY position", (thread_id,)
                )
            ]
            derived = [
                knowledge_from_row(item, SQLITE)
                for item in conn.execute(
                    "SELECT * FROM knowledge WHERE source = ? ORDER BY created_at DESC, id", (thread_id,)
                )
            ]
            return ConversationGraph.assemble(conversation_from_row(row, SQLITE), messages, derived)

        return await self._run(work)

    async def delete_conversation(self, thread_id: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            # Edges first (foreign keys): every `decided` edge of the thread's messages or of knowledge derived from it.
            conn.execute(
                "DELETE FROM decided WHERE message_id IN (SELECT id FROM messages WHERE thread_id = ?)"
                " OR knowledge_id IN (SELECT id FROM knowledge WHERE source = ?)",
                (thread_id, thread_id),
            )
            deleted = conn.execute("DELETE FROM knowledge WHERE source = ?", (thread_id,)).rowcount
            deleted += conn.execute("DELETE FROM messages WHERE thread_id = ?", (thread_id,)).rowcount
            deleted += conn.execute("DELETE FROM conversations WHERE thread_id = ?", (thread_id,)).rowcount
            return deleted > 0

        return await self._write(work)
