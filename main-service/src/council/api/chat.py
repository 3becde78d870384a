"""`POST /api/chat` (one JSON answer) and `POST /api/chat/stream` (the orchestrator's typed events as SSE)."""

from collections.abc import AsyncIterator

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from council.api.deps import CallerDep, OrchestratorDep
from council.api.event_stream import EventStreamResponse
from council.api.responses import EVENT_STREAM_RESPONSES
from council.ids import ID_PATTERN, new_thread_id
from council.orchestrator.events import MemberAnswer, ModelCall, PathName, Ranking
from council.orchestrator.smart_router import RequestedPath
from council.orchestrator.turn_options import CouncilMembers, RankingChoice, ReviewRoundChoice

router = APIRouter(prefix="/api", tags=["chat"])


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, description="The user's message; may start with /council, /fast or /agent NAME.")
    thread_id: str | None = Field(
        None, pattern=ID_PATTERN, description="Conversation to continue; omitted = a new conversation."
    )
    path: RequestedPath = Field("auto", description="auto lets the smart router decide.")
    members: CouncilMembers = None
    review_round: ReviewRoundChoice = None
    ranking: RankingChoice = None


class Timings(BaseModel):
    total_ms: float
    calls: list[ModelCall] = Field(description="Every model call of the turn with its tokens and latency.")


class ChatResponse(BaseModel):
    thread_id: str
    path: PathName
    reason: str = Field(description="Why the router chose the path.")
    answer: str
    members: list[MemberAnswer] = Field(description="Council members' answers (empty on the fast path).")
    ranking: Ranking | None = Field(None, description="The members' peer ranking, when the turn ran it.")
    timings: Timings


@router.post("/chat", summary="Answer one message (fast path or council), remembered in its thread")
async def create_chat(body: ChatRequest, orchestrator: OrchestratorDep, caller: CallerDep) -> ChatResponse:
    thread_id = body.thread_id or new_thread_id()
    final = await orchestrator.answer(
        body.message,
        thread_id=thread_id,
        requested=body.path,
        members=body.members,
        caller=caller,
        review_round=body.review_round,
        ranking=body.ranking,
    )
    return ChatResponse(
        thread_id=thread_id,
        path=final.path,
        reason=final.reason,
        answer=final.answer,
        members=final.members,
        ranking=final.ranking,
        timings=Timings(total_ms=final.total_ms, calls=final.calls),
    )


@router.post(
    "/chat/stream",
    summary="The same turn as server-sent events: route, member.*, review, ranking*, synthesis.delta, final or error",
    response_class=Response,  # no media type of its own, so errors are documented as JSON and 200 as SSE
    responses=EVENT_STREAM_RESPONSES,
)
async def stream_chat(body: ChatRequest, orchestrator: OrchestratorDep, caller: CallerDep) -> EventStreamResponse:
    # A 4xx before the stream starts (the turn checks the thread's owner again, under the thread's lock).
    admitted = await orchestrator.admit(
        body.message,
        body.path,
        members=body.members,
        caller=caller,
        review_round=body.review_round,
        ranking=body.ranking,
    )
    if body.thread_id is not None:
        await orchestrator.check_thread(body.thread_id, caller)
    thread_id = body.thread_id or new_thread_id()

    async def events() -> AsyncIterator[str]:
        # A client that disconnects cancels this generator, and with it the turn and its generations.
        async for event in orchestrator.stream(body.message, thread_id=thread_id, caller=caller, admitted=admitted):
            yield f"event: {event.type}\ndata: {event.model_dump_json()}\n\n"

    return EventStreamResponse(
        events(),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Thread-ID": thread_id},
    )
