"""Agents of the economy: who they are, what they may do, and the caps on what they may spend."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from council.kip.ledger import MAX_AMOUNT

AgentName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
Capability = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class AgentStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class Agent(BaseModel):
    """An agent and its budget account (the account shares the agent's id)."""

    id: str = Field(description="Stable id, also the id of the agent's ledger account.")
    name: str = Field(description="Unique name (case-insensitive), as in `/agent NAME do ...`.")
    role: str = Field(description="What the agent is for, in a sentence.")
    capabilities: list[str] = Field(description="Names of the tools the agent may call.")
    status: AgentStatus
    per_call_cap: int = Field(description="Most one call may cost, in minor units.")
    daily_cap: int = Field(description="Most the agent may spend per UTC day, in minor units.")
    balance: int = Field(description="Current balance of the agent's account, in minor units.")
    created_at: datetime
    updated_at: datetime


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: AgentName
    role: str = Field("", max_length=500)
    capabilities: list[Capability] = Field(default_factory=list, max_length=32)
    per_call_cap: int | None = Field(
        None, ge=0, le=MAX_AMOUNT, strict=True, description="Defaults to COUNCIL_KIP__DEFAULT_PER_CALL_CAP."
    )
    daily_cap: int | None = Field(
        None, ge=0, le=MAX_AMOUNT, strict=True, description="Defaults to COUNCIL_KIP__DEFAULT_DAILY_CAP."
    )


class AgentPatch(BaseModel):
    """A partial update; fields left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: AgentName | None = None
    role: str | None = Field(None, max_length=500)
    capabilities: list[Capability] | None = Field(None, max_length=32)
    status: AgentStatus | None = None
    per_call_cap: int | None = Field(None, ge=0, le=MAX_AMOUNT, strict=True)
    daily_cap: int | None = Field(None, ge=0, le=MAX_AMOUNT, strict=True)
