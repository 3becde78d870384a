"""Metered tools: refusal before any work, one charge per call, outcomes recorded, network tools guarded."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import structlog
from structlog.testing import LogCapture

from council.kip import Kip, build_kip
from council.kip import tools as tools_module
from council.kip.agents import Agent, AgentPatch, AgentStatus
from council.kip.builtin_tools import WebFetch, builtin_tools
from council.kip.errors import (
    AgentPausedError,
    BudgetExceededError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    KipError,
    ToolUnavailableError,
)
from council.kip.knowledge import KnowledgeCreate, KnowledgeKind, KnowledgeQuery
from council.kip.ledger import TREASURY, TransactionKind, TransactionQuery
from council.kip.stores.base import KipStore
from council.kip.tools import Tool, ToolError, ToolRegistry, ToolResult
from council.observability.correlation import _request_id
from council.settings import KipSettings
from tests.kip.support import ManualClock, new_agent

pytestmark = pytest.mark.anyio

ALL_TOOLS = ["calculator", "knowledge", "notes"]


async def funded_agent(kip: Kip, amount: int, **options: int) -> Agent:
    agent = await new_agent(kip.store, "worker", capabilities=ALL_TOOLS, **options)
    await kip.treasury.mint(1000)
    if amount:
        await kip.treasury.transfer(TREASURY, agent.id, amount)
    return await kip.store.get_agent(agent.id)


class CountingTool(Tool):
    """A tool that records whether it ran, to prove refusals happen before any work."""

    name = "calculator"
    description = "counts"

    def __init__(self, *, price: int) -> None:
        super().__init__(price=price)
        self.runs = 0

    async def _invoke(self, agent: Agent, store: KipStore, text: str) -> ToolResult:
        self.runs += 1
        return ToolResult(output="ran")


class CrashingTool(Tool):
    """A tool with a bug: it raises something no tool is meant to raise, with internals in the message."""

    name = "calculator"
    description = "crashes"

    async def _invoke(self, agent: Agent, store: KipStore, text: str) -> ToolResult:
        raise KeyError("/srv/council/secret-config.toml")


async def test_an_unexpected_tool_error_is_a_recorded_failed_call_logged_without_leaking_internals(
    kip: Kip, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = LogCapture()
    monkeypatch.setattr(tools_module, "log", structlog.wrap_logger(None, processors=[logs]))
    tools = ToolRegistry(kip.store, kip.budgets, [CrashingTool(price=2)])
    agent = await funded_agent(kip, 20)
    token = _request_id.set("req-tool-crash-1")
    try:
        call = await tools.call(agent, "calculator", "1")
    finally:
        _request_id.reset(token)

    assert (call.ok, call.cost, call.balance) == (False, 2, 18)
    assert call.output == "The tool 'calculator' failed unexpectedly."
    [activity] = await kip.store.activity(clock() - timedelta(hours=1))
    assert (activity.calls, activity.successes, activity.spent) == (1, 0, 2)
    (entry,) = [entry for entry in logs.entries if entry["event"] == "kip_tool_crashed"]
    assert (entry["log_level"], entry["request_id"], entry["error_type"]) == ("error", "req-tool-crash-1", "KeyError")
    assert entry["exc_info"] is True


async def test_each_call_is_charged_to_the_calling_agent_and_recorded(kip: Kip, clock: ManualClock) -> None:
    agent = await funded_agent(kip, 20)

    call = await kip.tools.call(agent, "calculator", "6 * 7")

    assert (call.ok, call.output, call.cost, call.balance) == (True, "6 * 7 = 42", 2, 18)
    assert call.transaction is not None
    assert (call.transaction.kind, call.transaction.source, call.transaction.target) == (
        TransactionKind.CHARGE,
        agent.id,
        TREASURY,
    )
    [activity] = await kip.store.activity(clock() - timedelta(hours=1))
    assert (activity.spent, activity.calls, activity.successes) == (2, 1, 1)


@pytest.mark.parametrize(("expression", "why"), [("import os", "Not an arithmetic"), ("0*1e999", "finite")])
async def test_a_failing_tool_is_still_charged_and_counted_as_a_failure(
    kip: Kip, clock: ManualClock, expression: str, why: str
) -> None:
    agent = await funded_agent(kip, 20)

    call = await kip.tools.call(agent, "calculator", expression)

    assert not call.ok
    assert why in call.output
    assert "nan" not in call.output
    [activity] = await kip.store.activity(clock() - timedelta(hours=1))
    assert (activity.calls, activity.successes, activity.spent) == (1, 0, 2)


@pytest.mark.parametrize(
    ("funding", "caps", "patch", "error"),
    [
        (0, {}, None, InsufficientFundsError),
        (20, {"per_call_cap": 1}, None, BudgetExceededError),
        (20, {}, AgentPatch(status=AgentStatus.PAUSED), AgentPausedError),
    ],
)
async def test_an_over_budget_call_is_refused_before_any_work(
    store: KipStore,
    kip_settings: KipSettings,
    funding: int,
    caps: dict[str, int],
    patch: AgentPatch | None,
    error: type[Exception],
) -> None:
    counting = CountingTool(price=2)
    kip = build_kip(kip_settings, store)
    tools = ToolRegistry(store, kip.budgets, [counting])
    agent = await funded_agent(kip, funding, **caps)
    if patch is not None:
        agent = await store.update_agent(agent.id, patch)

    with pytest.raises(error):
        await tools.call(agent, "calculator", "1")

    assert counting.runs == 0
    assert await store.balance(agent.id) == funding
    assert (await store.transactions(TransactionQuery(kind=TransactionKind.CHARGE))).items == []


async def test_the_daily_cap_refuses_the_call_that_would_pass_it(kip: Kip) -> None:
    agent = await funded_agent(kip, 100, daily_cap=5)

    await kip.tools.call(agent, "calculator", "1")
    await kip.tools.call(agent, "calculator", "2")
    with pytest.raises(BudgetExceededError):
        await kip.tools.call(await kip.store.get_agent(agent.id), "calculator", "3")

    assert await kip.store.balance(agent.id) == 96


class NumberingTool(CountingTool):
    """Answers with its own run count, so a replay that ran the tool again would answer differently."""

    description = "numbers its runs"

    def __init__(self, *, price: int) -> None:
        super().__init__(price=price)
        self.started = asyncio.Event()
        self.release: asyncio.Event | None = None  # when set, the first run waits for it

    async def _invoke(self, agent: Agent, store: KipStore, text: str) -> ToolResult:
        self.runs += 1
        self.started.set()
        if self.runs == 1 and self.release is not None:
            await self.release.wait()
        return ToolResult(output=f"run {self.runs}", data={"run": self.runs})


@pytest.mark.parametrize("price", [2, 0])
async def test_a_replayed_call_returns_the_first_result_without_running_the_tool_again(
    kip: Kip, clock: ManualClock, price: int
) -> None:
    numbering = NumberingTool(price=price)
    tools = ToolRegistry(kip.store, kip.budgets, [numbering])
    agent = await funded_agent(kip, 20)

    first = await tools.call(agent, "calculator", "1", idempotency_key="call-1")
    clock.advance(seconds=5)
    again = await tools.call(await kip.store.get_agent(agent.id), "calculator", "1", idempotency_key="call-1")

    assert numbering.runs == 1
    assert (again.ok, again.output, again.data) == (True, "run 1", {"run": 1})
    assert again.model_dump(exclude={"replayed"}) == first.model_dump(exclude={"replayed"})
    assert await kip.store.balance(agent.id) == 20 - price
    charges = await kip.store.transactions(TransactionQuery(kind=TransactionKind.CHARGE))
    assert len(charges.items) == (1 if price else 0)
    [activity] = await kip.store.activity(clock() - timedelta(hours=1))
    assert (activity.calls, activity.successes, activity.spent) == (1, 1, price)  # no second record, no cost


async def test_a_replayed_failed_call_returns_its_failure_without_running_again(kip: Kip, clock: ManualClock) -> None:
    agent = await funded_agent(kip, 20)

    first = await kip.tools.call(agent, "calculator", "import os", idempotency_key="call-1")
    again = await kip.tools.call(agent, "calculator", "import os", idempotency_key="call-1")

    assert (first.ok, again.ok, again.output, again.cost) == (False, False, first.output, 2)
    [activity] = await kip.store.activity(clock() - timedelta(hours=1))
    assert (activity.calls, activity.successes, activity.spent) == (1, 0, 2)


async def test_a_replay_while_the_first_call_still_runs_is_refused_as_in_progress(kip: Kip) -> None:
    numbering = NumberingTool(price=2)
    numbering.release = asyncio.Event()
    tools = ToolRegistry(kip.store, kip.budgets, [numbering])
    agent = await funded_agent(kip, 20)

    first = asyncio.create_task(tools.call(agent, "calculator", "1", idempotency_key="call-1"))
    await numbering.started.wait()
    with pytest.raises(KipError) as refused:
        await tools.call(agent, "calculator", "1", idempotency_key="call-1")
    numbering.release.set()
    finished = await first

    assert (refused.value.status_code, refused.value.code.value) == (409, "tool_call_in_progress")
    assert (numbering.runs, finished.output, await kip.store.balance(agent.id)) == (1, "run 1", 18)


async def test_a_key_replayed_with_another_input_is_refused_and_runs_nothing(kip: Kip) -> None:
    numbering = NumberingTool(price=2)
    tools = ToolRegistry(kip.store, kip.budgets, [numbering])
    agent = await funded_agent(kip, 20)

    await tools.call(agent, "calculator", "1", idempotency_key="call-1")
    with pytest.raises(IdempotencyKeyReusedError):
        await tools.call(agent, "calculator", "2", idempotency_key="call-1")

    assert (numbering.runs, await kip.store.balance(agent.id)) == (1, 18)


async def test_a_call_cancelled_while_its_tool_runs_keeps_its_charge_and_its_record(
    kip: Kip, clock: ManualClock
) -> None:
    numbering = NumberingTool(price=2)
    numbering.release = asyncio.Event()  # never set: the run is cancelled while it waits
    tools = ToolRegistry(kip.store, kip.budgets, [numbering])
    agent = await funded_agent(kip, 20)

    first = asyncio.create_task(tools.call(agent, "calculator", "1", idempotency_key="call-1"))
    await numbering.started.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    again = await tools.call(agent, "calculator", "1", idempotency_key="call-1")

    # The charge and its record were written together, so the record exists; the interrupted run is a failure.
    [activity] = await kip.store.activity(clock() - timedelta(hours=1))
    assert (activity.calls, activity.successes, activity.spent) == (1, 0, 2)
    assert (numbering.runs, again.ok, again.cost, await kip.store.balance(agent.id)) == (1, False, 2, 18)
    assert "interrupted" in again.output


async def test_tools_outside_the_agents_capabilities_or_unknown_are_refused(kip: Kip) -> None:
    agent = await new_agent(kip.store, "limited", capabilities=["notes"])
    with pytest.raises(ToolUnavailableError):
        await kip.tools.call(agent, "calculator", "1")
    with pytest.raises(ToolUnavailableError, match="NETWORK_TOOLS_ENABLED"):
        kip.tools.get("web_fetch")


async def test_notes_and_knowledge_lookup_use_the_kip_store(kip: Kip) -> None:
    agent = await funded_agent(kip, 20)
    await kip.store.add_knowledge(KnowledgeCreate(topic="pheromind", content="Trails evaporate after 12 s."))

    saved = await kip.tools.call(agent, "notes", "ledger: conservation holds")
    listed = await kip.tools.call(agent, "notes", "list")
    found = await kip.tools.call(agent, "knowledge", "evaporate")

    assert saved.ok
    assert "conservation holds" in listed.output
    assert "Trails evaporate" in found.output
    assert len(await kip.store.search_knowledge(KnowledgeQuery(text="conservation"))) == 1


async def test_notes_list_shows_the_agents_own_notes_however_many_others_wrote(kip: Kip, clock: ManualClock) -> None:
    agent = await funded_agent(kip, 20)
    chatty = await new_agent(kip.store, "chatty", capabilities=["notes"])
    await kip.tools.call(agent, "notes", "ledger: conservation holds")
    for number in range(25):  # more than one listing's worth of newer notes, none of them the agent's
        clock.advance(seconds=1)
        await kip.store.add_knowledge(
            KnowledgeCreate(kind=KnowledgeKind.NOTE, topic="chatter", content=f"note {number}", agent_id=chatty.id)
        )

    listed = await kip.tools.call(agent, "notes", "list")

    assert listed.output == "- [note] ledger: conservation holds"
    assert listed.data == {"count": 1}


def test_network_tools_are_off_by_default() -> None:
    assert [tool.name for tool in builtin_tools(KipSettings())] == ["calculator", "notes", "knowledge"]
    enabled = KipSettings(network_tools_enabled=True, network_allowed_hosts=["example.org"])
    assert "web_fetch" in [tool.name for tool in builtin_tools(enabled)]


async def test_web_fetch_reaches_only_allow_listed_hosts_and_caps_the_size(store: KipStore) -> None:
    agent = await new_agent(store, "fetcher", capabilities=["web_fetch"])
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=b"x" * 5000)

    settings = KipSettings(network_allowed_hosts=["example.org"], network_max_bytes=1000)
    tool = WebFetch(price=0, settings=settings, transport=httpx.MockTransport(answer))

    result = await tool.invoke(agent, store, "https://docs.example.org/page")
    assert (len(result.output), result.data["truncated"]) == (1000, True)
    for refused in ("https://evil.example.com/", "file:///etc/passwd", "https://example.org.evil.com/", "nonsense"):
        with pytest.raises(ToolError, match=r"allow-listed|absolute"):
            await tool.invoke(agent, store, refused)
    assert seen == ["https://docs.example.org/page"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.org:abc/", "InvalidURL"),  # httpx.InvalidURL is not an httpx.HTTPError
        ("http://example.org/\x00", "InvalidURL"),
        ("http://[::1/", "absolute http(s) URL"),  # urlsplit itself refuses it (ValueError)
    ],
)
async def test_a_url_httpx_refuses_is_a_failed_charged_call_not_a_crash(kip: Kip, url: str, why: str) -> None:
    settings = KipSettings(network_allowed_hosts=["example.org"])
    fetch = WebFetch(price=3, settings=settings, transport=httpx.MockTransport(lambda _: httpx.Response(200)))
    tools = ToolRegistry(kip.store, kip.budgets, [fetch])
    agent = await new_agent(kip.store, "fetcher", capabilities=["web_fetch"])
    await kip.treasury.mint(100)
    await kip.treasury.transfer(TREASURY, agent.id, 10)

    call = await tools.call(await kip.store.get_agent(agent.id), "web_fetch", url)

    assert (call.ok, call.cost, call.balance) == (False, 3, 7)
    assert why in call.output


@contextlib.asynccontextmanager
async def dripping_server(*, body_bytes: int, interval_s: float) -> AsyncIterator[int]:
    """A real HTTP server that sends its body one byte per interval: every read is quick, the whole is slow."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % body_bytes)
        with contextlib.suppress(ConnectionError):
            for _ in range(body_bytes):
                if writer.is_closing():
                    break
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(interval_s)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        server.abort_clients()
        await server.wait_closed()


async def test_web_fetch_bounds_the_whole_request_by_the_timeout(store: KipStore) -> None:
    agent = await new_agent(store, "fetcher", capabilities=["web_fetch"])
    # 0.05 s between bytes never trips httpx's per-read timeout; 200 bytes take 10 s, far past the 0.5 s budget.
    settings = KipSettings(network_allowed_hosts=["127.0.0.1"], network_timeout_s=0.5)
    async with dripping_server(body_bytes=200, interval_s=0.05) as port:
        with pytest.raises(ToolError, match=r"took longer than 0.5 s"):
            await WebFetch(price=0, settings=settings).invoke(agent, store, f"http://127.0.0.1:{port}/slow")
