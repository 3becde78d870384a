"""The one KIP store interface: public methods validate and share the rules, `_` hooks do the storage."""

import abc
from collections.abc import Callable
from datetime import UTC, datetime

from council.kip.agents import Agent, AgentCreate, AgentPatch
from council.kip.calls import StartedToolCall, ToolCallRecord, ToolCallStart, ToolOutcome
from council.kip.conversations import ConversationGraph, ExchangeCreate, RecordedExchange
from council.kip.errors import InvalidPostingError
from council.kip.knowledge import KnowledgeCreate, KnowledgeItem, KnowledgeQuery
from council.kip.ledger import (
    MAX_AMOUNT,
    TREASURY,
    AgentActivity,
    Posting,
    Receipt,
    TransactionKind,
    TransactionPage,
    TransactionQuery,
)

MAX_REASON_CHARS = 500
MAX_IDEMPOTENCY_KEY_CHARS = 200


def utc_now() -> datetime:
    return datetime.now(UTC)


class KipStore(abc.ABC):
    """Agents, accounts, the ledger, tool calls and knowledge. Implementations enforce the ledger invariants
    themselves (never negative, conservation except mint/burn, idempotent replays, safe under concurrency)."""

    backend: str = "abstract"
    clock: Callable[[], datetime] = staticmethod(utc_now)
    """What "now" is for timestamps, daily caps and analysis windows (tests substitute a manual clock)."""

    # ---- lifecycle ---------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the store cannot serve a query now, or cannot store a write since one failed for lack of room
        (readiness)."""

    write_fault: str | None = None
    """Why the last write failed for lack of room (StorageFullError); None again after a write or probe succeeds."""

    # ---- agents ------------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_agent(self, spec: AgentCreate, *, per_call_cap: int, daily_cap: int) -> Agent:
        """Create an agent and its account (balance 0); the caps are the resolved defaults."""

    @abc.abstractmethod
    async def get_agent(self, agent_id: str) -> Agent: ...

    @abc.abstractmethod
    async def find_agent(self, name: str) -> Agent:
        """The agent with this name, case-insensitively; UnknownAgentError if none."""

    @abc.abstractmethod
    async def list_agents(self) -> list[Agent]: ...

    @abc.abstractmethod
    async def update_agent(self, agent_id: str, patch: AgentPatch) -> Agent: ...

    # ---- ledger ------------------------------------------------------------------------------------------
    async def post(self, posting: Posting) -> Receipt:
        """Record one movement atomically, or replay the original one for a known idempotency key."""
        self._validate(posting)
        return await self._post(posting)

    @abc.abstractmethod
    async def _post(self, posting: Posting) -> Receipt: ...

    @abc.abstractmethod
    async def balances(self) -> dict[str, int]:
        """Every account's balance, the treasury included."""

    @abc.abstractmethod
    async def balance(self, account: str) -> int: ...

    @abc.abstractmethod
    async def supply(self) -> int:
        """Minted minus burned: what the balances must add up to."""

    @abc.abstractmethod
    async def transactions(self, query: TransactionQuery) -> TransactionPage: ...

    @abc.abstractmethod
    async def activity(self, since: datetime) -> list[AgentActivity]:
        """Per-agent spend, earnings, funding and tool-call outcomes since a time, for every agent."""

    # ---- tool calls and knowledge -----------------------------------------------------------------------
    async def start_tool_call(self, start: ToolCallStart) -> StartedToolCall:
        """In one atomic write: charge the call (if it has a price) and record it as running. For a known
        idempotency key nothing is charged or recorded: the call made before comes back, `replayed`, in any state.
        A key that already paid for a movement other than a tool call is IdempotencyKeyReusedError."""
        if start.charge is not None:
            self._validate(start.charge)
        return await self._start_tool_call(start)

    @abc.abstractmethod
    async def _start_tool_call(self, start: ToolCallStart) -> StartedToolCall: ...

    @abc.abstractmethod
    async def find_tool_call(self, idempotency_key: str) -> StartedToolCall | None:
        """The call made with this key (`replayed`), or None."""

    @abc.abstractmethod
    async def finish_tool_call(self, call_id: str, outcome: ToolOutcome) -> ToolCallRecord:
        """Store a running call's outcome; the call is `done` from then on."""

    @abc.abstractmethod
    async def add_knowledge(self, item: KnowledgeCreate) -> KnowledgeItem: ...

    @abc.abstractmethod
    async def search_knowledge(self, query: KnowledgeQuery) -> list[KnowledgeItem]: ...

    # ---- conversations (the graph behind council decisions) ----------------------------------------------
    @abc.abstractmethod
    async def record_exchange(self, exchange: ExchangeCreate) -> RecordedExchange:
        """Atomically: create or touch the conversation, append the question and the answer as its next two
        messages, and store the decision as knowledge derived from the conversation and decided by the answer."""

    @abc.abstractmethod
    async def conversation_graph(self, thread_id: str) -> ConversationGraph:
        """A recorded conversation with its messages, decisions and derived knowledge; UnknownConversationError
        if no exchange of it was recorded."""

    @abc.abstractmethod
    async def delete_conversation(self, thread_id: str) -> bool:
        """Atomically delete the conversation, its messages and every knowledge item derived from it (its source:
        decisions, notes, facts), with their edges; the thread ID may be recorded anew, from position 0. True when
        anything of it was stored."""

    # ---- shared rules ------------------------------------------------------------------------------------
    @staticmethod
    def _validate(posting: Posting) -> None:
        if not 0 < posting.amount <= MAX_AMOUNT:
            raise InvalidPostingError(f"The amount must be an integer from 1 to {MAX_AMOUNT} minor units.")
        if len(posting.reason) > MAX_REASON_CHARS:
            raise InvalidPostingError(f"The reason is longer than {MAX_REASON_CHARS} characters.")
        key = posting.idempotency_key
        if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_CHARS:
            raise InvalidPostingError(f"An idempotency key has 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters.")
        match posting.kind:
            case TransactionKind.MINT:
                if posting.source is not None or posting.target != TREASURY:
                    raise InvalidPostingError("A mint credits the treasury and debits nothing.")
            case TransactionKind.BURN:
                if posting.source != TREASURY or posting.target is not None:
                    raise InvalidPostingError("A burn debits the treasury and credits nothing.")
            case _:
                if posting.source is None or posting.target is None:
                    raise InvalidPostingError("A transfer needs both a source and a target account.")
                if posting.source == posting.target:
                    raise InvalidPostingError("An account cannot pay itself.")
