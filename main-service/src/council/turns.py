"""A finished turn as the observers told about it read it (KIP's decision recorder, Pheromind, metrics). It lives
below them and the orchestrator alike, so they need not import the orchestrator, whose `FinalEvent` is one."""

from collections.abc import Sequence
from typing import Protocol


class MemberOutcome(Protocol):
    """One council member's part in the turn (the orchestrator's `MemberAnswer` is one)."""

    @property
    def member(self) -> str: ...

    @property
    def status(self) -> str:
        """`ok`, or `failed` when the member dropped out."""
        ...

    @property
    def answer(self) -> str: ...

    @property
    def review(self) -> str | None: ...


class CallOutcome(Protocol):
    """One model call of the turn (the orchestrator's `ModelCall` is one)."""

    @property
    def role(self) -> str: ...

    @property
    def latency_ms(self) -> float: ...


class TurnOutcome(Protocol):
    """What every `TurnObserver` (`orchestrator/context.py`) is told once a turn has its answer. Structural, and
    only what observers read: a field a new observer needs is added here (the `FinalEvent` it reads has it)."""

    @property
    def thread_id(self) -> str | None: ...

    @property
    def path(self) -> str:
        """`fast`, `council` or `kip`."""
        ...

    @property
    def answer(self) -> str: ...

    @property
    def members(self) -> Sequence[MemberOutcome]:
        """The council's members, answered or failed; empty off the council path."""
        ...

    @property
    def calls(self) -> Sequence[CallOutcome]: ...

    @property
    def total_ms(self) -> float: ...

    @property
    def cached(self) -> bool:
        """The answer came from Pheromind's cache: no model ran."""
        ...
