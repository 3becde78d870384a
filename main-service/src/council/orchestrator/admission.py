"""The admission: a request the orchestrator has checked, routed and charged, and the only thing a turn runs.

Every surface (`/api/chat`, `/ws/chat`, `/v1/chat/completions`, `/ws/voice`, ...) calls `Orchestrator.admit` and
hands its `Admitted` to `Orchestrator.turn`, so each check (size, members, stages, thread owner, per-client caps,
the model-call budget) is made once, before anything streams, and a refusal is the caller's 4xx.
"""

import dataclasses
from typing import Protocol

from langchain_core.messages import AnyMessage

from council.auth import Caller
from council.orchestrator.fair_share import ClientShares, TurnSlot
from council.orchestrator.smart_router import RequestedPath, RouteDecision


class CallBudget(Protocol):
    """A client's budget of model calls per minute, beside its request rate (`council.ratelimit.RateLimiter`)."""

    async def charge_calls(self, client: str, calls: int) -> None:
        """Charge `calls` model calls to `client`; a `CouncilError` (429 with Retry-After) when it has not that many
        left in its window."""
        ...


@dataclasses.dataclass(frozen=True)
class AdmissionLimits:
    """What `admit` enforces besides the turn context's members and roles: from the settings, with this replica's
    fair-share counts and the clients' model-call budget."""

    max_message_chars: int
    shares: ClientShares
    clients_choose_stages: bool = True
    """Clients other than the admin may turn on the review round and ranking (turning them off is always allowed)."""
    budget: CallBudget | None = None


def turn_cost(route: RouteDecision, members: int, *, review_round: bool, ranking: bool) -> int:
    """The most model calls a turn can make, charged before it runs: the fast path one; the council each member's
    answer, review and ranking when they run, and the chair (3N+1 with both stages on). The KIP path spends the
    agent's own budget, not the client's. A cached answer costs nothing, but whether the cache holds one is only known
    once the turn runs, so it is charged like the turn it replaces."""
    if route.path == "fast":
        return 1
    if route.path == "kip":
        return 0
    return members * (1 + review_round + ranking) + 1


def client_of(caller: Caller) -> str:
    """The fair-share key of an in-process caller that has no request to read one from (tests, the evaluation
    harness); surfaces pass `council.ratelimit.client_key`, which tells keyless clients apart by IP."""
    return f"caller:{caller.name}"


@dataclasses.dataclass(frozen=True)
class Admitted:
    """A request the orchestrator will serve: where it goes, how the council deliberates, whose it is, on which
    thread, and what it was charged."""

    message: str
    requested: RequestedPath
    role: str | None
    members: tuple[str, ...] | None
    route: RouteDecision
    caller: Caller
    """Decides whose answer cache the turn uses and owns the thread."""
    client: str
    """The fair-share key (the caller's key, else its IP): per-client caps count the turn under it."""
    thread_id: str | None
    """The conversation the turn continues (its caller's own) or starts (minted here); None when stateless."""
    history: tuple[AnyMessage, ...] | None = None
    """A stateless turn's conversation so far (nothing of the turn is kept); None for a thread's turn."""
    review_round: bool = False
    """On the council path, members review each other's answers (the turn's choice, else the settings')."""
    ranking: bool = False
    """On the council path, members rank each other's answers for the chair (the turn's choice, else the settings')."""
    cost: int = 0
    """Model calls charged to `client` for this turn."""
    slot: TurnSlot | None = dataclasses.field(default=None, compare=False, repr=False)
    """The turn's place in `client`'s share of this replica, counted from admission: `Orchestrator.turn` gives it
    back when the turn's work has ended, and an admission never run gives it back when it is dropped."""

    @property
    def stateless(self) -> bool:
        return self.history is not None
