"""The analyzer reads spend, earnings, ROI and success rate from the ledger and explains its advice."""

from datetime import timedelta

import pytest

from council.kip import Kip
from council.kip.agents import AgentPatch, AgentStatus
from council.kip.analyzer import Recommendation
from council.kip.ledger import TREASURY, TransactionKind
from tests.kip.support import ManualClock, new_agent

pytestmark = pytest.mark.anyio


async def test_recommendations_follow_success_rate_roi_and_balance(kip: Kip, clock: ManualClock) -> None:
    await kip.treasury.mint(10_000)
    names = ["flaky", "thrifty", "starved", "idle", "paused"]
    agents = {name: await new_agent(kip.store, name, capabilities=["calculator"]) for name in names}
    funding = {"flaky": 100, "thrifty": 100, "starved": 7, "idle": 100, "paused": 100}
    for name, amount in funding.items():
        await kip.treasury.transfer(TREASURY, agents[name].id, amount)
    for name, expressions in {
        "flaky": ["1+1", "bad(", "x", "y"],
        "thrifty": ["1", "2", "3"],
        "starved": ["1", "2", "3"],
    }.items():
        for expression in expressions:
            await kip.tools.call(await kip.store.get_agent(agents[name].id), "calculator", expression)
    await kip.treasury.transfer(TREASURY, agents["thrifty"].id, 10, kind=TransactionKind.REWARD)
    await kip.store.update_agent(agents["paused"].id, AgentPatch(status=AgentStatus.PAUSED))

    analysis = await kip.analyzer.analyze(timedelta(days=1))

    by_name = {entry.name: entry for entry in analysis.agents}
    assert by_name["flaky"].recommendation is Recommendation.PAUSE
    assert by_name["flaky"].success_rate == 0.25
    assert "below 50%" in by_name["flaky"].reasons[0]
    thrifty = by_name["thrifty"]
    assert (thrifty.spent, thrifty.earned, thrifty.roi) == (6, 10, pytest.approx(4 / 6))
    assert thrifty.recommendation is Recommendation.KEEP
    assert by_name["starved"].recommendation is Recommendation.INCREASE  # balance 1 < spend 6, all calls worked
    assert by_name["idle"].recommendation is Recommendation.KEEP
    assert "not enough" in by_name["idle"].reasons[0]
    assert by_name["paused"].recommendation is Recommendation.KEEP
    assert analysis.until == clock()


async def test_the_window_excludes_older_activity(kip: Kip, clock: ManualClock) -> None:
    await kip.treasury.mint(100)
    agent = await new_agent(kip.store, "old", capabilities=["calculator"])
    await kip.treasury.transfer(TREASURY, agent.id, 50)
    for _ in range(3):
        await kip.tools.call(await kip.store.get_agent(agent.id), "calculator", "1")
    clock.advance(days=2)

    [entry] = (await kip.analyzer.analyze(timedelta(days=1))).agents

    assert (entry.spent, entry.calls, entry.roi, entry.success_rate) == (0, 0, None, None)
