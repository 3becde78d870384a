"""The one event hierarchy every surface streams (SSE, WebSocket, OpenAI chunks); `type` tells them apart."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from council.agent_events import AgentCharged, AgentOutput, AgentRefused, AgentStarted

PathName = Literal["fast", "council", "kip"]
Phase = Literal["answer", "review", "ranking"]
MemberErrorCode = Literal["timeout", "model_failed", "empty_answer", "dropped"]
"""Why a member dropped out: too slow, its model call failed, it answered nothing, or a spoken turn's chair started
without it."""


class ModelCall(BaseModel):
    """One model call's cost in tokens and its speed."""

    role: str
    phase: Literal["fast", "answer", "review", "ranking", "synthesis"]
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


class Ballot(BaseModel):
    """One member's ranking of the others' anonymised answers, as read from its reply by code."""

    ranker: str
    labels: dict[str, str] = Field(description="Each label the ranker saw ('A', 'B', ...) and whose answer it was.")
    order: list[str] | None = Field(
        description="The ranked members, best first; None when the reply held no complete ranking (see `problem`)."
    )
    problem: str | None = Field(None, description="Why the reply could not be read as a ranking.")


class RankedAnswer(BaseModel):
    member: str
    mean_rank: float | None = Field(description="Mean place given by the ballots that ranked it (1 = best).")
    rankers: int = Field(description="How many readable ballots ranked this answer.")


class Ranking(BaseModel):
    """The peer ranking's aggregate: answers by mean rank (best first; unranked ones last), and every ballot."""

    answers: list[RankedAnswer]
    ballots: list[Ballot]

    @property
    def unreadable(self) -> int:
        return sum(ballot.order is None for ballot in self.ballots)


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
    code: MemberErrorCode
    error: str = Field(
        description="Why, in a sentence of the service's own: never the backend's address or its exception's text "
        "(the service log keeps those)."
    )


class ReviewEvent(_Event):
    type: Literal["review"] = "review"
    members: list[str] = Field(description="Members that review the others' anonymised answers.")


class RankingEvent(_Event):
    type: Literal["ranking"] = "ranking"
    members: list[str] = Field(description="Members that rank the others' anonymised answers.")


class BallotEvent(Ballot, _Event):
    """One member's ranking, as parsed (its raw reply is the `member.done` of phase `ranking` before it)."""

    type: Literal["ranking.ballot"] = "ranking.ballot"


class RankingDoneEvent(Ranking, _Event):
    """The aggregate ranking the chair is shown."""

    type: Literal["ranking.done"] = "ranking.done"


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
    ranking: Ranking | None = Field(None, description="The peer ranking, when the ranking stage ran.")


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
    | RankingEvent
    | BallotEvent
    | RankingDoneEvent
    | SynthesisDeltaEvent
    | KipStartedEvent
    | KipChargedEvent
    | KipOutputEvent
    | KipRefusedEvent
    | FinalEvent
    | ErrorEvent,
    Field(discriminator="type"),
]
