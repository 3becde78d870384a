"""Connection, JSON shapes and row mapping for the TigerGraph KIP store."""

import json
from datetime import datetime
from typing import Any

from pyTigerGraph import TigerGraphConnection  # type: ignore[import-untyped]  # ships no type information

from council.kip.agents import Agent, AgentStatus
from council.kip.calls import ToolCallRecord, ToolCallState
from council.kip.conversations import Conversation, Message, MessageRole
from council.kip.knowledge import KnowledgeItem, KnowledgeKind
from council.kip.ledger import Leg, Transaction, TransactionKind
from council.kip.stores._sqlite_rows import stamp
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


def vertex_upsert(vertex_type: str, vertex_id: str, attributes: Json) -> Json:
    return {"vertices": {vertex_type: {vertex_id: {key: {"value": value} for key, value in attributes.items()}}}}


def agent_from(attributes: Json, balance: int) -> Agent:
    return Agent(
        id=attributes["id"],
        name=attributes["name"],
        role=attributes["role"],
        capabilities=json.loads(attributes["capabilities"]),
        status=AgentStatus(attributes["status"]),
        per_call_cap=attributes["per_call_cap"],
        daily_cap=attributes["daily_cap"],
        balance=balance,
        created_at=datetime.fromisoformat(attributes["created_at"]),
        updated_at=datetime.fromisoformat(attributes["updated_at"]),
    )


def transaction_from(vertex: Json) -> Transaction:
    attributes = vertex["attributes"]
    legs = []
    for leg in attributes["@legs"]:
        side, account, amount = leg.split("|")
        legs.append(Leg(account=account, side=side, amount=int(amount)))
    legs.sort(key=lambda leg: leg.side != "debit")  # debit first, as every store reports them
    return Transaction(
        id=attributes["id"],
        seq=attributes["seq"],
        kind=TransactionKind(attributes["kind"]),
        amount=attributes["amount"],
        source=attributes["source"] or None,
        target=attributes["target"] or None,
        reason=attributes["reason"],
        idempotency_key=attributes["idempotency_key"] or None,
        request_id=attributes["request_id"] or None,
        created_at=datetime.fromisoformat(attributes["created_at"]),
        legs=legs,
    )


def knowledge_from(attributes: Json) -> KnowledgeItem:
    return KnowledgeItem(
        id=attributes["id"],
        kind=KnowledgeKind(attributes["kind"]),
        topic=attributes["topic"],
        content=attributes["content"],
        source=attributes["source"] or None,
        agent_id=attributes["agent_id"] or None,
        data=json.loads(attributes["data"]),
        created_at=datetime.fromisoformat(attributes["created_at"]),
    )


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
    return Conversation(
        thread_id=attributes["thread_id"],
        title=attributes["title"],
        message_count=attributes["message_count"],
        created_at=datetime.fromisoformat(attributes["created_at"]),
        updated_at=datetime.fromisoformat(attributes["updated_at"]),
    )


def message_from(attributes: Json) -> Message:
    return Message(
        id=attributes["id"],
        thread_id=attributes["thread_id"],
        position=attributes["position"],
        role=MessageRole(attributes["role"]),
        text=attributes["text"],
        truncated=attributes["truncated"],
        created_at=datetime.fromisoformat(attributes["created_at"]),
        decision_ids=sorted(attributes.get("@decided", [])),
    )


def tool_call_from(attributes: Json) -> ToolCallRecord:
    return ToolCallRecord(
        id=attributes["id"],
        agent_id=attributes["agent_id"],
        tool=attributes["tool"],
        ok=attributes["ok"],
        cost=attributes["cost"],
        transaction_id=attributes["transaction_id"] or None,
        created_at=datetime.fromisoformat(attributes["created_at"]),
        state=ToolCallState(attributes["state"] or ToolCallState.DONE),  # "" on a call recorded before states
        idempotency_key=attributes["idempotency_key"] or None,
        fingerprint=attributes["fingerprint"],
        output=attributes["output"],
        data=json.loads(attributes["data"] or "{}"),
        balance=attributes["balance"],
    )
