"""What an agent run streams (`kip.*`): KIP's runner yields these, the orchestrator streams them on the turn's clock
(`orchestrator/events.py`) and the runs endpoint returns them. Defined below both, so neither imports the other."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field


class AgentStarted(BaseModel):
    type: Literal["kip.started"] = "kip.started"
    agent: str
    agent_id: str
    tool: str
    price: int


class AgentCharged(BaseModel):
    type: Literal["kip.charged"] = "kip.charged"
    agent: str
    cost: int
    transaction_id: str | None
    balance: int


class AgentOutput(BaseModel):
    type: Literal["kip.output"] = "kip.output"
    agent: str
    tool: str
    ok: bool
    text: str
    data: dict[str, object]


class AgentRefused(BaseModel):
    """Nothing was done and nothing was charged (unknown agent, paused, over budget, tool not allowed...)."""

    type: Literal["kip.refused"] = "kip.refused"
    agent: str
    code: str
    message: str


KipEvent = Annotated[AgentStarted | AgentCharged | AgentOutput | AgentRefused, Field(discriminator="type")]
