"""The agent runner behind the orchestrator's KIP path: picks the agent's tool, runs it metered, streams outcomes."""

import re
from collections.abc import AsyncIterator

from pydantic import BaseModel, Field

from council.agent_events import AgentCharged, AgentOutput, AgentRefused, AgentStarted, KipEvent
from council.kip.errors import KipError
from council.kip.stores.base import KipStore
from council.kip.tools import MAX_TOOL_INPUT_CHARS, ToolRegistry

# The events are re-exported: callers read what a run streams from here (defined below KIP, in agent_events.py).
__all__ = [
    "MAX_REQUEST_CHARS",
    "AgentCharged",
    "AgentOutput",
    "AgentRefused",
    "AgentRequest",
    "AgentRunner",
    "AgentStarted",
    "KipEvent",
    "choose_tool",
]

_ARITHMETIC = re.compile(r"^[\d\s.+\-*/%^()]+$")
_NOTE = re.compile(r"^(?:note|remember)\b[:\s]*(.*)$", re.IGNORECASE | re.DOTALL)

MAX_REQUEST_CHARS = MAX_TOOL_INPUT_CHARS
"""A request is at most what a tool takes as input: a longer one could only fail after its charge."""


class AgentRequest(BaseModel):
    """What to ask the agent: free text (as after `/agent NAME do`), optionally naming the tool."""

    text: str = Field(max_length=MAX_REQUEST_CHARS)
    tool: str | None = Field(None, description="The tool to use; chosen from the text when left out.")
    idempotency_key: str | None = Field(None, description="Makes a retried request charge only once.")


def choose_tool(text: str, capabilities: list[str]) -> str | None:
    """The tool a request is meant for: named first (`calculator 2+2`), else recognised, else the first allowed."""
    first, _, _ = text.strip().partition(" ")
    if first in capabilities:
        return first
    if "calculator" in capabilities and _ARITHMETIC.match(text.strip()):
        return "calculator"
    if "notes" in capabilities and _NOTE.match(text.strip()):
        return "notes"
    if "knowledge" in capabilities:
        return "knowledge"
    return capabilities[0] if capabilities else None


def _tool_input(text: str, tool: str) -> str:
    stripped = text.strip()
    if stripped.startswith(f"{tool} "):
        return stripped[len(tool) + 1 :]
    if tool == "notes" and (match := _NOTE.match(stripped)):
        return match.group(1)
    return stripped


class AgentRunner:
    def __init__(self, store: KipStore, tools: ToolRegistry) -> None:
        self._store = store
        self._tools = tools

    async def run(self, agent_name: str, request: AgentRequest | str) -> AsyncIterator[KipEvent]:
        """Stream what happens: refused (nothing charged), or started -> charged -> output. Never raises KipError."""
        if isinstance(request, str):
            request = AgentRequest(text=request)
        try:
            agent = await self._store.find_agent(agent_name)
        except KipError as error:
            yield AgentRefused(agent=agent_name, code=error.code.value, message=error.message)
            return
        tool = request.tool or choose_tool(request.text, agent.capabilities)
        if tool is None:
            yield AgentRefused(agent=agent.name, code="tool_unavailable", message=f"Agent {agent.name!r} has no tools.")
            return
        try:
            price = self._tools.get(tool).price
            yield AgentStarted(agent=agent.name, agent_id=agent.id, tool=tool, price=price)
            call = await self._tools.call(
                agent, tool, _tool_input(request.text, tool), idempotency_key=request.idempotency_key
            )
        except KipError as error:
            yield AgentRefused(agent=agent.name, code=error.code.value, message=error.message)
            return
        yield AgentCharged(
            agent=agent.name,
            cost=call.cost,
            transaction_id=call.transaction.id if call.transaction else None,
            balance=call.balance,
        )
        yield AgentOutput(agent=agent.name, tool=tool, ok=call.ok, text=call.output, data=call.data)
