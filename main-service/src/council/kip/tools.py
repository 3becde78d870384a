"""The metered tool registry: every call is authorized against the agent's budget, charged, run and recorded;
a replayed idempotency key answers the recorded call without running anything."""

import abc
import asyncio
import contextlib
from collections.abc import Iterable
from typing import ClassVar

import structlog
from pydantic import BaseModel, Field

from council.kip.agents import Agent
from council.kip.budgets import AgentBudgets
from council.kip.calls import StartedToolCall, ToolCallRecord, ToolCallStart, ToolCallState, ToolOutcome
from council.kip.errors import (
    IdempotencyKeyReusedError,
    KipError,
    ToolCallInProgressError,
    ToolUnavailableError,
)
from council.kip.ledger import Transaction
from council.kip.stores.base import KipStore
from council.observability.correlation import current_request_id

log = structlog.get_logger(__name__)

MAX_TOOL_INPUT_CHARS = 4000


class ToolError(Exception):
    """The tool ran but could not do what was asked (bad input, unreachable host, ...); the call is charged."""


class ToolResult(BaseModel):
    output: str
    data: dict[str, object] = Field(default_factory=dict)


class Tool(abc.ABC):
    """One capability an agent may call. `invoke` does the shared checks; subclasses implement `_invoke`."""

    name: ClassVar[str]
    description: ClassVar[str]
    network: ClassVar[bool] = False

    def __init__(self, *, price: int) -> None:
        self.price = price

    async def invoke(self, agent: Agent, store: KipStore, text: str) -> ToolResult:
        if len(text) > MAX_TOOL_INPUT_CHARS:
            raise ToolError(f"Tool input is limited to {MAX_TOOL_INPUT_CHARS} characters.")
        return await self._invoke(agent, store, text.strip())

    @abc.abstractmethod
    async def _invoke(self, agent: Agent, store: KipStore, text: str) -> ToolResult: ...


class MeteredCall(BaseModel):
    tool: str
    ok: bool
    cost: int
    output: str
    data: dict[str, object] = Field(default_factory=dict)
    transaction: Transaction | None = Field(description="The charge; null for a free tool.")
    balance: int = Field(description="The agent's balance after the charge.")
    replayed: bool = Field(False, description="The idempotency key's earlier call, answered from its record.")


class ToolRegistry:
    def __init__(self, store: KipStore, budgets: AgentBudgets, tools: Iterable[Tool]) -> None:
        self._store = store
        self._budgets = budgets
        self._tools = {tool.name: tool for tool in tools}

    def names(self) -> list[str]:
        return sorted(self._tools)

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolUnavailableError(
                f"No tool {name!r}; available: {', '.join(self.names()) or 'none'}."
                + (
                    " Network tools are off unless COUNCIL_KIP__NETWORK_TOOLS_ENABLED=true."
                    if name == "web_fetch"
                    else ""
                )
            ) from None

    async def call(self, agent: Agent, tool_name: str, text: str, *, idempotency_key: str | None = None) -> MeteredCall:
        """Refuse (raising a KipError) before any work if the agent may not call this tool or afford it. A known
        idempotency key answers its recorded call and runs nothing (kip/calls.py)."""
        tool = self.get(tool_name)
        if tool.name not in agent.capabilities:
            raise ToolUnavailableError(
                f"Agent {agent.name!r} may not call {tool.name!r}; its capabilities are {agent.capabilities}."
            )
        start = ToolCallStart(
            agent_id=agent.id,
            tool=tool.name,
            cost=tool.price,
            charge=self._budgets.charge_posting(
                agent, tool.price, reason=f"tool:{tool.name}", idempotency_key=idempotency_key
            ),
            idempotency_key=idempotency_key,
            fingerprint=ToolCallStart.fingerprint_of(agent.id, tool.name, text),
        )
        # A replay costs nothing, so it answers whatever the agent's state is now (paused, spent out).
        if idempotency_key is not None and (known := await self._store.find_tool_call(idempotency_key)) is not None:
            return _replayed(known, start)
        self._budgets.authorize(agent, tool.price)
        started = await self._start(start)
        if started.replayed:  # a concurrent call with this key was written between the lookup and this write
            return _replayed(started, start)
        try:
            outcome = await self._outcome(tool, agent, text)
        except asyncio.CancelledError:
            # Charged and recorded as running: record the interruption as the outcome, so that a replay answers it
            # rather than 409 for ever. Shielded: this task is being cancelled, the store write must still land.
            await asyncio.shield(self._store.finish_tool_call(started.record.id, _interrupted(tool.name)))
            raise
        record = await self._store.finish_tool_call(started.record.id, outcome)
        log.info("kip_tool_called", agent=agent.name, tool=tool.name, cost=tool.price, ok=outcome.ok)
        return _metered(record, started.transaction)

    async def _start(self, start: ToolCallStart) -> StartedToolCall:
        """`store.start_tool_call`, whose write a cancelled caller cannot call back (its SQLite thread or TigerGraph
        request goes on): when cancelled, wait for the write, and finish a call it recorded as interrupted too."""
        write = asyncio.ensure_future(self._store.start_tool_call(start))
        try:
            return await asyncio.shield(write)
        except asyncio.CancelledError:
            while not write.done():  # through any further cancellation: the outcome decides what to finish
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait([write])
            if not write.cancelled() and write.exception() is None and not (started := write.result()).replayed:
                await asyncio.shield(self._store.finish_tool_call(started.record.id, _interrupted(start.tool)))
            raise

    async def _outcome(self, tool: Tool, agent: Agent, text: str) -> ToolOutcome:
        try:
            result = await tool.invoke(agent, self._store, text)
        except (ToolError, KipError) as error:
            return ToolOutcome(ok=False, output=str(error))
        except Exception as error:
            # A bug in a tool, not a refusal: the charge is already made, so the call is still recorded (as a
            # failure) and answered; the details stay in the log, the caller learns only that the tool failed.
            log.exception(
                "kip_tool_crashed",
                agent=agent.name,
                tool=tool.name,
                error_type=type(error).__name__,
                request_id=current_request_id(),
            )
            return ToolOutcome(ok=False, output=f"The tool {tool.name!r} failed unexpectedly.")
        return ToolOutcome(ok=True, output=result.output, data=result.data)


def _interrupted(tool: str) -> ToolOutcome:
    return ToolOutcome(ok=False, output=f"The call to {tool!r} was interrupted before it finished.")


def _replayed(found: StartedToolCall, start: ToolCallStart) -> MeteredCall:
    """The recorded answer to a replayed key, or why there is none to give."""
    record = found.record
    if record.fingerprint != start.fingerprint:
        raise IdempotencyKeyReusedError(
            "This idempotency key was already used for another tool call (agent, tool or input); use a new key."
        )
    if record.state is ToolCallState.RUNNING:
        raise ToolCallInProgressError(
            f"The {record.tool!r} call with this idempotency key has not finished (still running, or stopped before"
            " its result was recorded); it is not run again. Ask again later."
        )
    log.info("kip_tool_replayed", agent_id=record.agent_id, tool=record.tool, call_id=record.id)
    return _metered(record, found.transaction, replayed=True)


def _metered(record: ToolCallRecord, transaction: Transaction | None, *, replayed: bool = False) -> MeteredCall:
    """The answer to a call, first or replayed, from its record: one shape for both."""
    return MeteredCall(
        tool=record.tool,
        ok=record.ok,
        cost=record.cost,
        output=record.output,
        data=record.data,
        transaction=transaction,
        balance=record.balance,
        replayed=replayed,
    )
