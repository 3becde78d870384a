"""Conversation memory: list, read and forget threads."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from council.api.chat import THREAD_ID_PATTERN
from council.api.deps import OrchestratorDep, RequireApiKey
from council.orchestrator.memory import ConversationMessage, ConversationSummary

router = APIRouter(prefix="/api/conversations", tags=["conversations"])

ThreadId = Annotated[str, Path(pattern=THREAD_ID_PATTERN)]


class ConversationList(BaseModel):
    conversations: list[ConversationSummary]


class Conversation(BaseModel):
    thread_id: str
    messages: list[ConversationMessage]


@router.get("", summary="Conversations, most recently updated first")
async def list_conversations(
    orchestrator: OrchestratorDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> ConversationList:
    return ConversationList(conversations=await orchestrator.conversations(limit))


@router.get("/{thread_id}", summary="One conversation's messages (404 for an unknown thread)")
async def get_conversation(thread_id: ThreadId, orchestrator: OrchestratorDep) -> Conversation:
    return Conversation(thread_id=thread_id, messages=await orchestrator.conversation(thread_id))


@router.delete(
    "/{thread_id}",
    status_code=204,
    dependencies=[RequireApiKey],  # an admin action: needs COUNCIL_AUTH__API_KEY when one is set
    summary="Forget a conversation (404 for an unknown thread)",
)
async def delete_conversation(thread_id: ThreadId, orchestrator: OrchestratorDep) -> Response:
    await orchestrator.forget(thread_id)
    return Response(status_code=204)
