"""The economic analyzer: per-agent spend, earnings, ROI and success rate over a window, and funding advice."""

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from council.kip.agents import Agent, AgentStatus
from council.kip.ledger import AgentActivity
from council.kip.stores.base import KipStore

MIN_CALLS = 3  # fewer calls than this say nothing about an agent
PAUSE_BELOW_SUCCESS = 0.5
INCREASE_FROM_SUCCESS = 0.8


class Recommendation(StrEnum):
    INCREASE = "increase"
    KEEP = "keep"
    PAUSE = "pause"


class AgentAnalysis(BaseModel):
    agent_id: str
    name: str
    status: AgentStatus
    balance: int
    spent: int = Field(description="Outflows from the agent's account in the window.")
    earned: int = Field(description="Rewards received in the window.")
    funded: int = Field(description="Other inflows (treasury funding, transfers) in the window.")
    calls: int
    successes: int
    success_rate: float | None = Field(description="successes / calls; null without calls.")
    roi: float | None = Field(description="(earned - spent) / spent; null when nothing was spent.")
    recommendation: Recommendation
    reasons: list[str]


class EconomyAnalysis(BaseModel):
    since: datetime
    until: datetime
    agents: list[AgentAnalysis]


def _advise(
    agent: Agent, activity: AgentActivity, success_rate: float | None, roi: float | None
) -> tuple[Recommendation, list[str]]:
    if agent.status is AgentStatus.PAUSED:
        return Recommendation.KEEP, ["The agent is paused; funding changes wait until it is resumed."]
    if success_rate is None or activity.calls < MIN_CALLS:
        return Recommendation.KEEP, [f"Only {activity.calls} tool calls in the window; not enough to judge."]
    if success_rate < PAUSE_BELOW_SUCCESS:
        return Recommendation.PAUSE, [
            f"Success rate {success_rate:.0%} over {activity.calls} calls is below {PAUSE_BELOW_SUCCESS:.0%}."
        ]
    reasons = [f"Success rate {success_rate:.0%} over {activity.calls} calls."]
    if activity.earned == 0:
        reasons.append("No rewards in the window: judged on success rate and balance alone.")
    elif roi is not None and roi < 0:
        reasons.append(f"ROI {roi:.0%}: it earned {activity.earned} for {activity.spent} spent.")
        return Recommendation.KEEP, reasons
    if success_rate >= INCREASE_FROM_SUCCESS and agent.balance < activity.spent:
        reasons.append(f"Its balance {agent.balance} is below its spend of {activity.spent} in the window.")
        return Recommendation.INCREASE, reasons
    reasons.append(f"Its balance {agent.balance} covers its recent spend of {activity.spent}.")
    return Recommendation.KEEP, reasons


class EconomicAnalyzer:
    def __init__(self, store: KipStore, *, clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self._clock = clock or store.clock

    async def analyze(self, window: timedelta) -> EconomyAnalysis:
        until = self._clock()
        since = until - window
        agents = {agent.id: agent for agent in await self._store.list_agents()}
        results: list[AgentAnalysis] = []
        for activity in await self._store.activity(since):
            agent = agents.get(activity.agent_id)
            if agent is None:  # created after the list was read
                continue
            success_rate = activity.successes / activity.calls if activity.calls else None
            roi = (activity.earned - activity.spent) / activity.spent if activity.spent else None
            recommendation, reasons = _advise(agent, activity, success_rate, roi)
            results.append(
                AgentAnalysis(
                    agent_id=agent.id,
                    name=agent.name,
                    status=agent.status,
                    balance=agent.balance,
                    spent=activity.spent,
                    earned=activity.earned,
                    funded=activity.funded,
                    calls=activity.calls,
                    successes=activity.successes,
                    success_rate=success_rate,
                    roi=roi,
                    recommendation=recommendation,
                    reasons=reasons,
                )
            )
        results.sort(key=lambda entry: entry.name.lower())
        return EconomyAnalysis(since=since, until=until, agents=results)
