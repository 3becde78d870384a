"""Connection, JSON shapes and row mapping for the TigerGraph KIP store."""

import json
from datetime import datetime
from typing import Any

from pyTigerGraph import TigerGraphConnection  # type: ignore[import-untyped]  # ships no type information

from council.kip.agents import Agent
from council.kip.calls import ToolCallRecord, ToolCallState
from council.kip.conversations import Conversation, Message
from council.kip.knowledge import KnowledgeItem
from council.kip.ledger import Leg, Transaction
from council.kip.stores._sql_rows import (
    Decoding,
    agent_from_row,
    conversation_from_row,
    knowledge_from_row,
    message_from_row,
    tool_call_from_row,
    transaction_from_row,
)
from council.kip.stores._sqlite_connection import stamp
from council.settings import TigerGraphSettings

type Json = dict[str, Any]


def connect(settings: TigerGraphSettings, *, graph: str | None = None) -> Any:
    """A pyTigerGraph connection with the configured credentials and a server-side query timeout."""
    conn = TigerGraphConnection(
        host=settings.host,
        graphname=settings.graph if graph is None else graph,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else "",
        restppPort=settings.restpp_port,
        gsPort=settings.gsql_port,
        apiToken=settings.api_token.get_secret_value() if settings.api_token else "",
    )
    # GSQL-TIMEOUT bounds each query on the server; pyTigerGraph derives its HTTP timeout from it (+30 s).
    conn.customizeHeader(timeout=int(settings.timeout_s * 1000))
    return conn


TIGERGRAPH = Decoding(load_json=json.loads, load_time=datetime.fromisoformat)
"""JSON is stored as text, times as ISO 8601 text."""


def _nulls(attributes: Json, *names: str) -> Json:
    """`attributes` as a SQL row reads: a vertex has no NULL, so these optional attributes store none as ""."""
    return attributes | {name: attributes[name] or None for name in names}


def vertex_upsert(vertex_type: str, vertex_id: str, attributes: Json) -> Json:
    return {"vertices": {vertex_type: {vertex_id: {key: {"value": value} for key, value in attributes.items()}}}}


def agent_from(attributes: Json, balance: int) -> Agent:
    return agent_from_row(attributes | {"balance": balance}, TIGERGRAPH)


def transaction_from(vertex: Json) -> Transaction:
    attributes = vertex["attributes"]
    legs = []
    for leg in attributes["@legs"]:
        side, account, amount = leg.split("|")
        legs.append(Leg(account=account, side=side, amount=int(amount)))
    legs.sort(key=lambda leg: leg.side != "debit")  # debit first, as every store reports them
    row = _nulls(attributes, "source", "target", "idempotency_key", "request_id")
    return transaction_from_row(row, legs, TIGERGRAPH)


def knowledge_from(attributes: Json) -> KnowledgeItem:
    return knowledge_from_row(_nulls(attributes, "source", "agent_id"), TIGERGRAPH)


def knowledge_upsert(item: KnowledgeItem) -> Json:
    """The item's vertex with its edges: DERIVED_FROM its source conversation, WROTE from its agent."""
    data = vertex_upsert(
        "Knowledge",
        item.id,
        {
            "kind": item.kind.value,
            "topic": item.topic,
            "content": item.content,
            "source": item.source or "",
            "agent_id": item.agent_id or "",
            "data": json.dumps(item.data),
            "created_at": stamp(item.created_at),
        },
    )
    data["edges"] = {}
    if item.source is not None:
        data["vertices"]["Conversation"] = {item.source: {}}
        data["edges"]["Knowledge"] = {item.id: {"DERIVED_FROM": {"Conversation": {item.source: {}}}}}
    if item.agent_id is not None:
        data["edges"]["Agent"] = {item.agent_id: {"WROTE": {"Knowledge": {item.id: {}}}}}
    return data


def conversation_upsert(conversation: Conversation, messages: list[Message]) -> Json:
    data = vertex_upsert(
        "Conversation",
        conversation.thread_id,
        {
            "title": conversation.title,
            "message_count": conversation.message_count,
            "created_at": stamp(conversation.created_at),
            "updated_at": stamp(conversation.updated_at),
        },
    )
    data["vertices"]["Message"] = {
        message.id: {
            key: {"value": value}
            for key, value in {
                "thread_id": message.thread_id,
                "position": message.position,
                "role": message.role.value,
                "text": message.text,
                "truncated": message.truncated,
                "created_at": stamp(message.created_at),
            }.items()
        }
        for message in messages
    }
    return data


def conversation_from(attributes: Json) -> Conversation:
    return conversation_from_row(attributes, TIGERGRAPH)


def message_from(attributes: Json) -> Message:
    return message_from_row(attributes, sorted(attributes.get("@decided", [])), TIGERGRAPH)


def tool_call_from(attributes: Json) -> ToolCallRecord:
    row = _nulls(attributes, "transaction_id", "idempotency_key") | {
        "state": attributes["state"] or ToolCallState.DONE,  # "" on a call recorded before states
        "data": attributes["data"] or "{}",
    }
    return tool_call_from_row(row, TIGERGRAPH)
