"""The metered tool registry: every call is authorized against the agent's budget, charged, run and recorded."""

import abc
from collections.abc import Iterable
from typing import ClassVar

import structlog
from pydantic import BaseModel, Field

from council.kip.agents import Agent
from council.kip.budgets import BudgetManager
from council.kip.errors import KipError, ToolUnavailableError
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


class ToolRegistry:
    def __init__(self, store: KipStore, budgets: BudgetManager, tools: Iterable[Tool]) -> None:
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
        """Refuse (raising a KipError) before any work if the agent may not call this tool or afford it."""
        tool = self.get(tool_name)
        if tool.name not in agent.capabilities:
            raise ToolUnavailableError(
                f"Agent {agent.name!r} may not call {tool.name!r}; its capabilities are {agent.capabilities}."
            )
        receipt = await self._budgets.charge(
            agent, tool.price, reason=f"tool:{tool.name}", idempotency_key=idempotency_key
        )
        ok = True
        try:
            result = await tool.invoke(agent, self._store, text)
        except (ToolError, KipError) as error:
            ok, result = False, ToolResult(output=str(error))
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
            ok, result = False, ToolResult(output=f"The tool {tool.name!r} failed unexpectedly.")
        transaction = receipt.transaction if receipt else None
        await self._store.record_tool_call(
            agent_id=agent.id,
            tool=tool.name,
            ok=ok,
            cost=tool.price,
            transaction_id=transaction.id if transaction else None,
        )
        log.info("kip_tool_called", agent=agent.name, tool=tool.name, cost=tool.price, ok=ok)
        return MeteredCall(
            tool=tool.name,
            ok=ok,
            cost=tool.price,
            output=result.output,
            data=result.data,
            transaction=transaction,
            balance=await self._store.balance(agent.id),
        )
