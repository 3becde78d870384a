"""Row → model mapping, statements and queries the SQL stores (SQLite, PostgreSQL) write once. A `Dialect` holds
what differs: the placeholder, case-insensitive equality, and how JSON and times are stored. The TigerGraph store
maps its vertices' attributes to models with the same functions, through its own `Decoding`."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from council.kip.agents import Agent, AgentCreate, AgentPatch, AgentStatus
from council.kip.calls import ToolCallRecord, ToolCallState, ToolOutcome
from council.kip.conversations import Conversation, Message, MessageRole
from council.kip.knowledge import KnowledgeItem, KnowledgeKind, KnowledgeQuery
from council.kip.ledger import Leg, Posting, Transaction, TransactionKind, TransactionQuery
from council.kip.stores._records import like_pattern

AGENT_SELECT = (
    "SELECT a.id, a.name, a.role, a.capabilities, a.status, a.per_call_cap, a.daily_cap, a.created_at,"
    " a.updated_at, c.balance FROM agents a JOIN accounts c ON c.id = a.id"
)


class Row(Protocol):
    """A row read by column name: `sqlite3.Row` and psycopg's `DictRow` both are."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True, kw_only=True)
class Decoding:
    """How a store hands back the values it has no one type for: JSON documents and times."""

    load_json: Callable[[Any], Any]
    load_time: Callable[[Any], datetime]


@dataclass(frozen=True, kw_only=True)
class Dialect(Decoding):
    """How one SQL database spells a parameter and stores the values SQL has no one type for."""

    mark: str
    """The parameter placeholder: `?` or `%s`."""
    equals_folded: str
    """A case-insensitive `{column} = ?` test."""
    row_lock: str
    """What a write's SELECT ends with to hold the rows it read until commit: PostgreSQL's ` FOR UPDATE`, nothing for
    SQLite, whose IMMEDIATE write transaction holds the whole database already."""
    dump_json: Callable[[Any], object]
    dump_time: Callable[[datetime], object]

    def sql(self, statement: str) -> str:
        """`statement`, written with `?` placeholders (and no other `?`), in this dialect's placeholders."""
        return statement.replace("?", self.mark)

    def marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)


# ---- rows → models -----------------------------------------------------------------------------------------
def agent_from_row(row: Row, dialect: Decoding) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        capabilities=dialect.load_json(row["capabilities"]),
        status=AgentStatus(row["status"]),
        per_call_cap=row["per_call_cap"],
        daily_cap=row["daily_cap"],
        balance=row["balance"],
        created_at=dialect.load_time(row["created_at"]),
        updated_at=dialect.load_time(row["updated_at"]),
    )


def leg_from_row(row: Row) -> Leg:
    return Leg(account=row["account"], side=row["side"], amount=row["amount"])


def transaction_from_row(row: Row, legs: list[Leg], dialect: Decoding) -> Transaction:
    return Transaction(
        id=row["id"],
        seq=row["seq"],
        kind=TransactionKind(row["kind"]),
        amount=row["amount"],
        source=row["source"],
        target=row["target"],
        reason=row["reason"],
        idempotency_key=row["idempotency_key"],
        request_id=row["request_id"],
        created_at=dialect.load_time(row["created_at"]),
        legs=legs,
    )


def knowledge_from_row(row: Row, dialect: Decoding) -> KnowledgeItem:
    return KnowledgeItem(
        id=row["id"],
        kind=KnowledgeKind(row["kind"]),
        topic=row["topic"],
        content=row["content"],
        source=row["source"],
        agent_id=row["agent_id"],
        data=dialect.load_json(row["data"]),
        created_at=dialect.load_time(row["created_at"]),
    )


def conversation_from_row(row: Row, dialect: Decoding) -> Conversation:
    return Conversation(
        thread_id=row["thread_id"],
        title=row["title"],
        message_count=row["message_count"],
        created_at=dialect.load_time(row["created_at"]),
        updated_at=dialect.load_time(row["updated_at"]),
    )


def message_from_row(row: Row, decision_ids: list[str], dialect: Decoding) -> Message:
    return Message(
        id=row["id"],
        thread_id=row["thread_id"],
        position=row["position"],
        role=MessageRole(row["role"]),
        text=row["text"],
        truncated=bool(row["truncated"]),
        created_at=dialect.load_time(row["created_at"]),
        decision_ids=decision_ids,
    )


def tool_call_from_row(row: Row, dialect: Decoding) -> ToolCallRecord:
    return ToolCallRecord(
        id=row["id"],
        agent_id=row["agent_id"],
        tool=row["tool"],
        ok=bool(row["ok"]),
        cost=row["cost"],
        transaction_id=row["transaction_id"],
        created_at=dialect.load_time(row["created_at"]),
        state=ToolCallState(row["state"]),
        idempotency_key=row["idempotency_key"],
        fingerprint=row["fingerprint"],
        output=row["output"],
        data=dialect.load_json(row["data"]),
        balance=row["balance"],
    )


# ---- models → statements -----------------------------------------------------------------------------------
type Statement = tuple[str, tuple[object, ...]]


def knowledge_insert(item: KnowledgeItem, dialect: Dialect) -> Statement:
    return (
        dialect.sql(
            "INSERT INTO knowledge (id, kind, topic, content, source, agent_id, data, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        (
            item.id,
            item.kind.value,
            item.topic,
            item.content,
            item.source,
            item.agent_id,
            dialect.dump_json(item.data),
            dialect.dump_time(item.created_at),
        ),
    )


MOVEMENT_COLUMNS = "kind, amount, source, target, reason, idempotency_key, fingerprint, request_id"
"""The columns of a movement's `transactions` row that both stores write alike (not its position, id or time)."""


def movement_values(posting: Posting, fingerprint: str, request_id: str | None) -> tuple[object, ...]:
    """The values of `MOVEMENT_COLUMNS`, in their order."""
    return (
        posting.kind.value,
        posting.amount,
        posting.source,
        posting.target,
        posting.reason,
        posting.idempotency_key,
        fingerprint,
        request_id,
    )


def tool_call_insert(record: ToolCallRecord, dialect: Dialect) -> Statement:
    return (
        dialect.sql(
            "INSERT INTO tool_calls (id, agent_id, tool, ok, cost, transaction_id, created_at, idempotency_key,"
            " fingerprint, state, output, data, balance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        (
            record.id,
            record.agent_id,
            record.tool,
            record.ok,  # a bool: SQLite stores it as 1 or 0
            record.cost,
            record.transaction_id,
            dialect.dump_time(record.created_at),
            record.idempotency_key,
            record.fingerprint,
            record.state.value,
            record.output,
            dialect.dump_json(record.data),
            record.balance,
        ),
    )


def agent_insert(
    agent_id: str, spec: AgentCreate, per_call_cap: int, daily_cap: int, now: datetime, dialect: Dialect
) -> Statement:
    moment = dialect.dump_time(now)
    return (
        dialect.sql("INSERT INTO agents VALUES (?, ?, ?, ?, 'active', ?, ?, ?, ?)"),
        (agent_id, spec.name, spec.role, dialect.dump_json(spec.capabilities), per_call_cap, daily_cap, moment, moment),
    )


def agent_changes(patch: AgentPatch, now: datetime, dialect: Dialect) -> dict[str, Any]:
    """The columns an update sets, as stored: the patch's fields that are set, and the time of the change."""
    changes: dict[str, Any] = patch.model_dump(exclude_none=True, mode="json")
    if "capabilities" in changes:
        changes["capabilities"] = dialect.dump_json(changes["capabilities"])
    changes["updated_at"] = dialect.dump_time(now)
    return changes


def tool_call_finish(call_id: str, outcome: ToolOutcome, dialect: Dialect) -> Statement:
    return (
        dialect.sql(
            "UPDATE tool_calls SET state = 'done', ok = ?, output = ?, data = ? WHERE id = ? AND state = 'running'"
        ),
        (outcome.ok, outcome.output, dialect.dump_json(outcome.data), call_id),
    )


def messages_insert(messages: list[Message], dialect: Dialect) -> tuple[str, list[tuple[object, ...]]]:
    """One statement and a row of parameters per message (for `executemany`)."""
    return (
        dialect.sql("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)"),
        [
            (m.id, m.thread_id, m.position, m.role.value, m.text, m.truncated, dialect.dump_time(m.created_at))
            for m in messages
        ],
    )


# ---- queries -----------------------------------------------------------------------------------------------
def transaction_page_select(query: TransactionQuery, dialect: Dialect) -> Statement:
    """The positions (`seq`) of one page of the ledger, one more than the page holds (is there a next page?)."""
    clauses, params = ["t.seq > ?"], list[object]([query.after or 0])
    if query.account is not None:
        clauses.append("EXISTS (SELECT 1 FROM legs l WHERE l.seq = t.seq AND l.account = ?)")
        params.append(query.account)
    if query.kind is not None:
        clauses.append("t.kind = ?")
        params.append(query.kind.value)
    if query.since is not None:
        clauses.append("t.created_at >= ?")
        params.append(dialect.dump_time(query.since))
    if query.until is not None:
        clauses.append("t.created_at < ?")
        params.append(dialect.dump_time(query.until))
    statement = f"SELECT t.seq FROM transactions t WHERE {' AND '.join(clauses)} ORDER BY t.seq LIMIT ?"  # noqa: S608  # fixed clauses
    return dialect.sql(statement), (*params, query.limit + 1)


def knowledge_select(query: KnowledgeQuery, dialect: Dialect) -> Statement:
    clauses, params = ["1 = 1"], list[object]()
    if query.text:
        clauses.append("(lower(topic) LIKE ? ESCAPE '\\' OR lower(content) LIKE ? ESCAPE '\\')")
        params += [like_pattern(query.text)] * 2
    filters = (("topic", query.topic), ("kind", query.kind), ("source", query.source), ("agent_id", query.agent_id))
    for column, value in filters:
        if value is not None:
            clauses.append(dialect.equals_folded.format(column=column) if column == "topic" else f"{column} = ?")
            params.append(str(value))
    statement = f"SELECT * FROM knowledge WHERE {' AND '.join(clauses)} ORDER BY created_at DESC, id LIMIT ?"  # noqa: S608  # fixed clauses
    return dialect.sql(statement), (*params, query.limit)
