"""Conversation memory: list, read and forget threads; each caller sees its own (the admin everyone's)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from council.api.deps import CallerDep, OrchestratorDep
from council.ids import ID_PATTERN
from council.orchestrator.memory import ConversationMessage, ConversationSummary

router = APIRouter(prefix="/api/conversations", tags=["conversations"])

ThreadId = Annotated[str, Path(pattern=ID_PATTERN)]


class ConversationList(BaseModel):
    conversations: list[ConversationSummary]


class Conversation(BaseModel):
    thread_id: str
    messages: list[ConversationMessage]


@router.get("", summary="The caller's conversations, most recently updated first")
async def list_conversations(
    orchestrator: OrchestratorDep, caller: CallerDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> ConversationList:
    return ConversationList(conversations=await orchestrator.threads.listing(caller, limit))


@router.get("/{thread_id}", summary="One conversation's messages (404 for an unknown thread or another's)")
async def get_conversation(thread_id: ThreadId, orchestrator: OrchestratorDep, caller: CallerDep) -> Conversation:
    return Conversation(thread_id=thread_id, messages=await orchestrator.threads.messages(thread_id, caller))


@router.delete(
    "/{thread_id}", status_code=204, summary="Forget a conversation (404 for an unknown thread or another's)"
)
async def delete_conversation(thread_id: ThreadId, orchestrator: OrchestratorDep, caller: CallerDep) -> Response:
    await orchestrator.threads.forget(thread_id, caller)
    return Response(status_code=204)
