"""What every KIP store decides once: new ids, the records a write creates, and the refusals they share."""

import uuid
from datetime import datetime

from council.kip.calls import ToolCallRecord, ToolCallStart, ToolCallState
from council.kip.conversations import Conversation, ExchangeCreate, Message
from council.kip.errors import AgentNameTakenError, UnknownAgentError, UnknownConversationError
from council.kip.knowledge import KnowledgeCreate, KnowledgeItem
from council.kip.ledger import Transaction


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def like_pattern(text: str) -> str:
    """A case-folded LIKE pattern (ESCAPE '\\') that finds `text` anywhere."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def stored_knowledge(item: KnowledgeCreate, now: datetime) -> KnowledgeItem:
    """The item as a store keeps it: with a new id and the time it was added."""
    return KnowledgeItem(id=new_id("kn"), created_at=now, **item.model_dump())


def exchange_messages(
    exchange: ExchangeCreate, conversation: Conversation, decision: KnowledgeItem, now: datetime
) -> list[Message]:
    """The exchange's two messages with new ids, at the last two positions of `conversation` (which counts them)."""
    return exchange.messages(
        ids=(new_id("msg"), new_id("msg")),
        first_position=conversation.message_count - 2,
        created_at=now,
        decision_id=decision.id,
    )


def running_call(start: ToolCallStart, transaction: Transaction | None, balance: int, now: datetime) -> ToolCallRecord:
    """The record of a tool call just started (and charged, if it costs): running until it is finished."""
    return ToolCallRecord(
        id=new_id("call"),
        agent_id=start.agent_id,
        tool=start.tool,
        ok=False,
        cost=start.cost,
        transaction_id=transaction.id if transaction else None,
        created_at=now,
        state=ToolCallState.RUNNING,
        idempotency_key=start.idempotency_key,
        fingerprint=start.fingerprint,
        balance=balance,
    )


def unknown_agent(agent_id: str) -> UnknownAgentError:
    return UnknownAgentError(f"No agent with id {agent_id!r}; list them at GET /api/kip/agents.")


def agent_name_taken(name: str | None) -> AgentNameTakenError:
    return AgentNameTakenError(f"An agent named {name!r} already exists.")


def unknown_agent_named(name: str) -> UnknownAgentError:
    return UnknownAgentError(f"No agent named {name!r}; list them at GET /api/kip/agents.")


def unknown_conversation(thread_id: str) -> UnknownConversationError:
    return UnknownConversationError(
        f"No recorded conversation {thread_id!r}: KIP records a conversation at its first council"
        " decision; GET /api/conversations lists the chat memory."
    )
