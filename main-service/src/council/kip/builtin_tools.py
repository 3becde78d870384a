"""The built-in tools: calculator, notes and knowledge lookup (offline), and a guarded web fetch (off by default)."""

import asyncio
import re
from urllib.parse import urlsplit

import httpx

from council.kip.agents import Agent
from council.kip.calculator import CalculationError, calculate
from council.kip.knowledge import KnowledgeCreate, KnowledgeItem, KnowledgeKind, KnowledgeQuery
from council.kip.stores.base import KipStore
from council.kip.tools import Tool, ToolError, ToolResult
from council.settings import KipSettings


class Calculator(Tool):
    name = "calculator"
    description = "Evaluates arithmetic: + - * / // % ** ^, parentheses, abs round min max sqrt log, pi, e."

    async def _invoke(self, agent: Agent, store: KipStore, text: str) -> ToolResult:
        try:
            value = calculate(text)
        except CalculationError as error:
            raise ToolError(str(error)) from error
        return ToolResult(
            output=f"{text} = {value:g}" if isinstance(value, float) else f"{text} = {value}", data={"value": value}
        )


_TOPIC = re.compile(r"^([A-Za-z][\w-]{0,39}):\s+(.+)$", re.DOTALL)  # `topic: text`; "at 10:00" is no topic


def _describe(items: list[KnowledgeItem]) -> str:
    return "\n".join(f"- [{item.kind}] {item.topic}: {item.content[:300]}" for item in items)


class Notes(Tool):
    name = "notes"
    description = (
        "`topic: text` (one-word topic) or plain text keeps a note; `list` or an empty request lists the agent's notes."
    )

    async def _invoke(self, agent: Agent, store: KipStore, text: str) -> ToolResult:
        if text.lower() in ("", "list"):
            mine = await store.search_knowledge(KnowledgeQuery(kind=KnowledgeKind.NOTE, agent_id=agent.id, limit=20))
            return ToolResult(output=_describe(mine) or "No notes yet.", data={"count": len(mine)})
        match = _TOPIC.match(text)
        topic, content = (match.group(1), match.group(2)) if match else ("general", text)
        note = await store.add_knowledge(
            KnowledgeCreate(kind=KnowledgeKind.NOTE, topic=topic, content=content, agent_id=agent.id)
        )
        return ToolResult(output=f"Noted under {note.topic!r}.", data={"id": note.id})


class KnowledgeLookup(Tool):
    name = "knowledge"
    description = "Finds notes, facts and council decisions whose topic or content contains the request."

    async def _invoke(self, agent: Agent, store: KipStore, text: str) -> ToolResult:
        if not text:
            raise ToolError("Say what to look up.")
        items = await store.search_knowledge(KnowledgeQuery(text=text, limit=10))
        return ToolResult(
            output=_describe(items) or f"Nothing known about {text!r}.", data={"ids": [item.id for item in items]}
        )


class WebFetch(Tool):
    """GET one URL on an allow-listed host: no redirects (they could leave the list), a timeout, a size cap."""

    name = "web_fetch"
    description = "Fetches an http(s) URL on an allow-listed host and returns the start of its body."
    network = True

    def __init__(self, *, price: int, settings: KipSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(price=price)
        self._allowed = {host.lower().rstrip(".") for host in settings.network_allowed_hosts}
        self._timeout = settings.network_timeout_s
        self._max_bytes = settings.network_max_bytes
        self._transport = transport

    def _check(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower().rstrip(".")
        except ValueError as error:  # e.g. an unclosed "[" of an IPv6 host
            raise ToolError(f"web_fetch takes one absolute http(s) URL: {error}.") from error
        if parts.scheme not in ("http", "https") or not host:
            raise ToolError("web_fetch takes one absolute http(s) URL.")
        if not any(host == allowed or host.endswith(f".{allowed}") for allowed in self._allowed):
            raise ToolError(f"Host {host!r} is not allow-listed (COUNCIL_KIP__NETWORK_ALLOWED_HOSTS).")

    async def _invoke(self, agent: Agent, store: KipStore, text: str) -> ToolResult:
        self._check(text)
        body = bytearray()
        try:
            # httpx's timeout bounds each connect and read; this bounds the whole request (a slow drip included).
            async with (
                asyncio.timeout(self._timeout),
                httpx.AsyncClient(timeout=self._timeout, follow_redirects=False, transport=self._transport) as client,
                client.stream("GET", text) as response,
            ):
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= self._max_bytes:
                        break
        except TimeoutError as error:
            raise ToolError(f"Fetching {text} took longer than {self._timeout:g} s.") from error
        except (httpx.HTTPError, httpx.InvalidURL) as error:  # InvalidURL (a bad port, a NUL) is no HTTPError
            raise ToolError(f"Fetching {text} failed: {type(error).__name__}.") from error
        truncated = len(body) >= self._max_bytes
        return ToolResult(
            output=bytes(body[: self._max_bytes]).decode("utf-8", "replace"),
            data={"status": response.status_code, "truncated": truncated},
        )


def builtin_tools(settings: KipSettings) -> list[Tool]:
    tools: list[Tool] = [
        Calculator(price=settings.tool_price),
        Notes(price=settings.tool_price),
        KnowledgeLookup(price=settings.tool_price),
    ]
    if settings.network_tools_enabled:
        tools.append(WebFetch(price=settings.network_tool_price, settings=settings))
    return tools
