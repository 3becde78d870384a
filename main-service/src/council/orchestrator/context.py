"""What every node of a turn can reach: models, council configuration, clock, and the KIP/Pheromind seams."""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from council.llm import ModelRegistry
from council.orchestrator.preemption import Confirmation
from council.turns import TurnOutcome

EventWriter = Callable[[object], None]
"""LangGraph's custom stream writer: each event a node writes reaches every surface in order."""


class AgentPath(Protocol):
    """The KIP layer's entry point for `/agent NAME …` (plugged into `open_orchestrator(kip=…)` once KIP exists)."""

    @property
    def max_request_chars(self) -> int:
        """The longest request an agent takes; a longer one is refused (4xx) before anything runs or is charged."""
        ...

    async def run(self, *, agent: str, message: str, thread_id: str | None, emit: EventWriter) -> str:
        """Run the agent's request under its budget; stream events through `emit`; return the answer text."""
        ...


class TrailSignals(Protocol):
    """Pheromind's trails, kept per caller (`scope`: `Caller.name`): the router reads how strong the caller's own
    trail of a message (or its topic) is now, and the graph lays one for each of the caller's remembered turns. Per
    caller, so that no client can make a topic hot for others, push their questions onto the council path, or read its
    strength in their reasons."""

    async def strength(self, message: str, *, scope: str) -> float: ...

    async def record_turn(self, question: str, *, scope: str) -> None: ...


class CachedTurn(Protocol):
    """An earlier answer to the same normalized question (Pheromind's `CachedAnswer` fits)."""

    @property
    def answer(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def age_s(self) -> float: ...


class AnswerCache(Protocol):
    """Pheromind's short-lived response cache: an identical question within its TTL is answered from it. Answers
    are kept per `scope` (one caller); which turns may use it is the graph's decision."""

    async def cached_answer(self, question: str, *, scope: str) -> CachedTurn | None: ...

    async def store_answer(self, question: str, *, scope: str, answer: str, path: str) -> None: ...


class TurnObserver(Protocol):
    """Told about every finished turn once the conversation keeps it (its checkpoint is written; a stateless turn's
    once its answer exists), never about one whose write failed: KIP records the council's decisions
    (`kip/decisions.py`), metrics time it (`observability/metrics.py`). They sit below the orchestrator and read the turn as `council.turns.TurnOutcome`,
    which the `FinalEvent` passed here is."""

    async def turn_completed(self, final: TurnOutcome, message: str) -> None:
        """`message`: what the turn asked the models (the user's text without its command)."""
        ...


class ThreadForgetter(Protocol):
    """Keeps something derived from a thread's turns (KIP's conversation graph, Pheromind's trails) and deletes it
    when the thread is deleted, before the thread itself: a failure leaves the thread, so the delete can be retried."""

    async def forget_thread(self, thread_id: str, *, owner: str, questions: Sequence[str]) -> None:
        """`questions`: what each of the thread's turns asked the models (its message without a command), oldest
        first; `owner`: whose turns they were (`Caller.name`, the answer cache's scope)."""
        ...


@dataclass(frozen=True)
class TurnContext:
    models: ModelRegistry
    members: Sequence[str]
    prompts: Mapping[str, str]
    """System prompt per role (built-in prompts, overridden by settings)."""
    review_round: bool
    """Members review each other's answers (the settings' default, or the turn's choice)."""
    member_timeout_s: float
    council_min_words: int
    context_tokens: int
    kip: AgentPath | None = None
    trails: TrailSignals | None = None
    cache: AnswerCache | None = None
    hot_threshold: float | None = None
    observers: Sequence[TurnObserver] = ()
    spoken: bool = False
    """The answer will be spoken (a voice session): the members and the chair answer briefly, in plain speech."""
    spoken_member_max_tokens: int = 32
    """A member's answer in a spoken turn is capped at this many tokens, so the chair starts sooner."""
    spoken_quorum: int = 2
    """In a spoken turn the chair starts once this many members have answered (capped at the members asked)."""
    spoken_deadline_s: float = 4.0
    """In a spoken turn the chair starts this long after the members began, with whoever has answered (at least one)."""
    ranking: bool = False
    """Members rank each other's anonymised answers and the chair sees the aggregate (default, or the turn's choice)."""
    ranking_max_tokens: int = 64
    """A member's ranking is capped at this many tokens."""
    seed: int | None = None
    """The models' sampling seed; it also seeds each ranker's shuffle of the answers, so a run repeats."""
    cache_scope: str = "local"
    """Whose answer cache and trails this turn may read and fill (the caller's name)."""
    confirmation: Confirmation | None = None
    """A preemptive turn's fate (`preemption.py`): until it is confirmed nothing of it is kept; discarded, nothing is."""
    started: float = field(default_factory=time.perf_counter)

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 2)
