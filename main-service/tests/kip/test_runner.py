"""The agent runner streams typed outcomes: refusals charge nothing, runs charge once and report the output."""

import pytest

from council.kip import AgentRequest, Kip, KipPath
from council.kip.ledger import TREASURY
from council.kip.runner import AgentCharged, AgentOutput, AgentRefused, AgentStarted, KipEvent, choose_tool
from tests.kip.support import new_agent

pytestmark = pytest.mark.anyio


async def collect(kip: Kip, name: str, request: AgentRequest | str) -> list[KipEvent]:
    return [event async for event in kip.runner.run(name, request)]


async def test_a_run_streams_started_charged_output(kip: Kip) -> None:
    agent = await new_agent(kip.store, "mathy", capabilities=["calculator", "notes"])
    await kip.treasury.mint(50)
    await kip.treasury.transfer(TREASURY, agent.id, 10)

    events = await collect(kip, "mathy", "(2 + 3) * 4")

    assert [type(event) for event in events] == [AgentStarted, AgentCharged, AgentOutput]
    started, charged, output = events
    assert isinstance(started, AgentStarted)
    assert isinstance(charged, AgentCharged)
    assert isinstance(output, AgentOutput)
    assert (started.tool, charged.cost, charged.balance) == ("calculator", 2, 8)
    assert (output.ok, output.text) == (True, "(2 + 3) * 4 = 20")


async def test_refusals_are_events_and_charge_nothing(kip: Kip) -> None:
    agent = await new_agent(kip.store, "broke", capabilities=["calculator"])

    [unknown] = await collect(kip, "nobody", "1+1")
    events = await collect(kip, "broke", "1+1")

    assert isinstance(unknown, AgentRefused)
    assert unknown.code == "not_found"
    assert isinstance(events[-1], AgentRefused)
    assert events[-1].code == "insufficient_funds"
    assert await kip.store.balance(agent.id) == 0


async def test_an_explicit_tool_and_note_phrasing_are_honoured(kip: Kip) -> None:
    agent = await new_agent(kip.store, "scribe", capabilities=["knowledge", "notes"])
    await kip.treasury.mint(50)
    await kip.treasury.transfer(TREASURY, agent.id, 10)

    noted = await collect(kip, "scribe", "remember standup moved to 10:00")
    looked_up = await collect(kip, "scribe", AgentRequest(text="standup", tool="knowledge"))

    assert isinstance(noted[-1], AgentOutput)
    assert noted[-1].tool == "notes"
    assert isinstance(looked_up[-1], AgentOutput)
    assert "standup moved to 10:00" in looked_up[-1].text


@pytest.mark.parametrize(
    ("text", "capabilities", "tool"),
    [
        ("calculator 1+1", ["notes", "calculator"], "calculator"),
        ("12 / 4", ["calculator", "knowledge"], "calculator"),
        ("note buy milk", ["knowledge", "notes"], "notes"),
        ("what is KIP", ["calculator", "knowledge"], "knowledge"),
        ("anything", ["notes"], "notes"),
        ("anything", [], None),
    ],
)
def test_the_tool_is_chosen_from_the_request(text: str, capabilities: list[str], tool: str | None) -> None:
    assert choose_tool(text, capabilities) == tool


async def test_the_kip_path_emits_every_event_and_returns_the_answer(kip: Kip) -> None:
    agent = await new_agent(kip.store, "mathy", capabilities=["calculator"])
    await kip.treasury.mint(50)
    await kip.treasury.transfer(TREASURY, agent.id, 10)
    emitted: list[object] = []
    path = KipPath(kip.runner)

    answer = await path.run(agent="mathy", message="2 ** 8", thread_id="t-1", emit=emitted.append)
    refused = await path.run(agent="ghost", message="1", thread_id=None, emit=emitted.append)

    assert answer == "2 ** 8 = 256"
    assert [type(event) for event in emitted] == [AgentStarted, AgentCharged, AgentOutput, AgentRefused]
    assert refused.startswith("Agent ghost did not run: No agent named 'ghost'")
