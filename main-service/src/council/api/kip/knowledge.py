"""What the council knows: knowledge items, its decisions, and the graph of a recorded conversation."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from council.api.deps import KipDep
from council.kip.conversations import MAX_THREAD_ID_CHARS, ConversationGraph
from council.kip.knowledge import DecisionCreate, KnowledgeCreate, KnowledgeItem, KnowledgeKind, KnowledgeQuery

router = APIRouter()


@router.get("/knowledge", summary="Notes, facts and decisions by text, topic, kind or source conversation")
async def search_knowledge(kip: KipDep, query: Annotated[KnowledgeQuery, Query()]) -> list[KnowledgeItem]:
    return await kip.store.search_knowledge(query)


@router.post("/knowledge", status_code=201, summary="Add a knowledge item")
async def add_knowledge(item: KnowledgeCreate, kip: KipDep) -> KnowledgeItem:
    return await kip.store.add_knowledge(item)


@router.get("/decisions", summary="Council decisions, newest first")
async def list_decisions(
    kip: KipDep,
    topic: str | None = None,
    thread_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[KnowledgeItem]:
    query = KnowledgeQuery(kind=KnowledgeKind.DECISION, topic=topic, source=thread_id, limit=limit)
    return await kip.store.search_knowledge(query)


@router.post("/decisions", status_code=201, summary="Record a council decision")
async def record_decision(decision: DecisionCreate, kip: KipDep) -> KnowledgeItem:
    return await kip.store.add_knowledge(decision.as_knowledge())


@router.get(
    "/conversations/{thread_id}/graph",
    summary="A recorded conversation: its messages, the decisions they made, the knowledge derived from it",
)
async def get_conversation_graph(
    thread_id: Annotated[str, Path(min_length=1, max_length=MAX_THREAD_ID_CHARS)], kip: KipDep
) -> ConversationGraph:
    return await kip.store.conversation_graph(thread_id)
