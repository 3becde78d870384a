"""The one event hierarchy every surface streams (SSE, WebSocket, OpenAI chunks); `type` tells them apart."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from council.agent_events import AgentCharged, AgentOutput, AgentRefused, AgentStarted

PathName = Literal["fast", "council", "kip"]
Phase = Literal["answer", "review"]


class ModelCall(BaseModel):
    """One model call's cost in tokens and its speed."""

    role: str
    phase: Literal["fast", "answer", "review", "synthesis"]
    model: str
    input_tokens: int
    output_tokens: int
    ttft_ms: float = Field(description="Milliseconds from the call to its first token.")
    latency_ms: float = Field(description="Milliseconds the whole call took.")


class MemberAnswer(BaseModel):
    member: str
    status: Literal["ok", "failed"]
    answer: str = ""
    review: str | None = Field(None, description="The member's revised answer after the review round, if it ran.")
    error: str | None = None


class _Event(BaseModel):
    t_ms: float = Field(description="Milliseconds since the turn started (orders and times events).")


class RouteEvent(_Event):
    type: Literal["route"] = "route"
    path: PathName
    reason: str
    role: str | None = Field(None, description="The role answering a fast path.")
    agent: str | None = Field(None, description="The KIP agent addressed by `/agent NAME`.")
    members: list[str] = Field([], description="Council members that will deliberate.")
    cached: bool = Field(False, description="The answer comes from Pheromind's short-lived cache, not a model.")


class MemberStartEvent(_Event):
    type: Literal["member.start"] = "member.start"
    member: str
    phase: Phase
    model: str


class MemberDeltaEvent(_Event):
    type: Literal["member.delta"] = "member.delta"
    member: str
    phase: Phase
    text: str


class MemberDoneEvent(_Event):
    type: Literal["member.done"] = "member.done"
    member: str
    phase: Phase
    text: str
    call: ModelCall


class MemberFailedEvent(_Event):
    type: Literal["member.failed"] = "member.failed"
    member: str
    phase: Phase
    error: str


class ReviewEvent(_Event):
    type: Literal["review"] = "review"
    members: list[str] = Field(description="Members that review the others' anonymised answers.")


class SynthesisDeltaEvent(_Event):
    type: Literal["synthesis.delta"] = "synthesis.delta"
    role: str = Field(description="Who writes the final answer: the chair, or the fast path's role.")
    text: str


class FinalEvent(_Event):
    type: Literal["final"] = "final"
    thread_id: str | None
    path: PathName
    reason: str
    answer: str
    members: list[MemberAnswer]
    calls: list[ModelCall]
    total_ms: float
    cached: bool = Field(False, description="The answer was served from Pheromind's cache (no model ran).")


class ErrorEvent(_Event):
    type: Literal["error"] = "error"
    code: str
    message: str


# The KIP path's events: KIP's own models (agent_events.py, also returned by the runs endpoint) on the turn's clock.
class KipStartedEvent(AgentStarted, _Event):
    """The agent's tool is about to run: nothing is charged yet."""


class KipChargedEvent(AgentCharged, _Event):
    """The tool's price moved from the agent to the treasury."""


class KipOutputEvent(AgentOutput, _Event):
    """What the tool returned (`ok: false`: it ran and failed, and stays charged)."""


class KipRefusedEvent(AgentRefused, _Event):
    """The agent did not run (unknown, paused, over budget, tool not allowed); nothing was charged."""


_TIMED_KIP_EVENTS: dict[type[BaseModel], type[_Event]] = {
    AgentStarted: KipStartedEvent,
    AgentCharged: KipChargedEvent,
    AgentOutput: KipOutputEvent,
    AgentRefused: KipRefusedEvent,
}


def timed(event: object, t_ms: float) -> object:
    """A KIP event as the turn streams it (with `t_ms`, like every event); anything else unchanged."""
    if not isinstance(event, BaseModel) or (kind := _TIMED_KIP_EVENTS.get(type(event))) is None:
        return event
    return kind(t_ms=t_ms, **event.model_dump())


Event = Annotated[
    RouteEvent
    | MemberStartEvent
    | MemberDeltaEvent
    | MemberDoneEvent
    | MemberFailedEvent
    | ReviewEvent
    | SynthesisDeltaEvent
    | KipStartedEvent
    | KipChargedEvent
    | KipOutputEvent
    | KipRefusedEvent
    | FinalEvent
    | ErrorEvent,
    Field(discriminator="type"),
]
