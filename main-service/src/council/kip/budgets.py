"""Agents' budgets: a call over an agent's caps or funds is refused before any work, then charged."""

from council.kip.agents import Agent, AgentStatus
from council.kip.errors import AgentPausedError, BudgetExceededError, InsufficientFundsError
from council.kip.ledger import TREASURY, Posting, Receipt, TransactionKind
from council.kip.stores.base import KipStore


class AgentBudgets:
    def __init__(self, store: KipStore) -> None:
        self._store = store

    @staticmethod
    def authorize(agent: Agent, cost: int) -> None:
        """Raise if the agent may not spend `cost` on one call (status, per-call cap, funds)."""
        if agent.status is AgentStatus.PAUSED:
            raise AgentPausedError(f"Agent {agent.name!r} is paused; PATCH its status to 'active' first.")
        if cost > agent.per_call_cap:
            raise BudgetExceededError(
                f"A call costs {cost}, over agent {agent.name!r}'s per-call cap of {agent.per_call_cap}."
            )
        if cost > agent.balance:
            raise InsufficientFundsError(
                f"Agent {agent.name!r} holds {agent.balance}, {cost} needed; fund it with a transfer from the treasury."
            )

    async def charge(
        self, agent: Agent, cost: int, *, reason: str, idempotency_key: str | None = None
    ) -> Receipt | None:
        """Authorize, then pay the treasury; the store re-checks funds and the daily cap atomically."""
        self.authorize(agent, cost)
        posting = self.charge_posting(agent, cost, reason=reason, idempotency_key=idempotency_key)
        return None if posting is None else await self._store.post(posting)

    @staticmethod
    def charge_posting(agent: Agent, cost: int, *, reason: str, idempotency_key: str | None = None) -> Posting | None:
        """The movement that pays `cost` to the treasury under the agent's daily cap; None when there is nothing to
        pay. Not authorized here: `charge` does it, and a tool call authorizes before its store write."""
        if cost == 0:
            return None
        return Posting(
            kind=TransactionKind.CHARGE,
            amount=cost,
            source=agent.id,
            target=TREASURY,
            reason=reason,
            idempotency_key=idempotency_key,
            daily_cap=agent.daily_cap,
        )
