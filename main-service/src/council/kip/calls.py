"""Metered tool calls as the store keeps them: reserved with their charge, completed with their result, replayed.

A call is written twice. `start` charges it and records it as `running` in one store transaction, before the tool
runs; `finish` stores the tool's outcome (`done`). A replay of the call's idempotency key returns what was stored
and never runs the tool again: a `done` call answers its result, a `running` one (still running, or its process
died before `finish`) answers 409 `tool_call_in_progress`.
"""

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from council.kip.ledger import Posting, Transaction

KEY_HELD_BY_A_MOVEMENT = "This idempotency key already paid for a movement that is not this tool call; use a new key."


class ToolCallState(StrEnum):
    RUNNING = "running"  # charged and recorded; the tool has not answered yet
    DONE = "done"  # the outcome below is final


class ToolCallRecord(BaseModel):
    """One metered tool call: who called what, the charge that paid for it, and (once done) what it answered."""

    id: str
    agent_id: str
    tool: str
    ok: bool
    cost: int
    transaction_id: str | None
    created_at: datetime
    state: ToolCallState = ToolCallState.DONE
    idempotency_key: str | None = None
    fingerprint: str = Field("", description="What a replay of the key must match: agent, tool and input.")
    output: str = ""
    data: dict[str, object] = Field(default_factory=dict)
    balance: int = Field(0, description="The agent's balance right after the charge.")


class ToolCallStart(BaseModel):
    """A call about to run: its charge (None for a free tool) and what identifies it for a replay."""

    agent_id: str
    tool: str
    cost: int
    charge: Posting | None
    idempotency_key: str | None = None
    fingerprint: str

    @staticmethod
    def fingerprint_of(agent_id: str, tool: str, text: str) -> str:
        return f"{agent_id}|{tool}|{hashlib.sha256(text.encode()).hexdigest()}"


class StartedToolCall(BaseModel):
    record: ToolCallRecord
    transaction: Transaction | None = Field(description="The charge; None for a free tool.")
    replayed: bool = Field(description="The key was known: this is the call made before, nothing was charged now.")


class ToolOutcome(BaseModel):
    ok: bool
    output: str
    data: dict[str, object] = Field(default_factory=dict)
