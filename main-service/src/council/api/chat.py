"""`POST /api/chat` (one JSON answer) and `POST /api/chat/stream` (the orchestrator's typed events as SSE)."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from council.api.deps import CallerDep, ClientDep, OrchestratorDep
from council.api.event_stream import EventStreamResponse
from council.api.responses import EVENT_STREAM_RESPONSES
from council.ids import ID_PATTERN
from council.orchestrator import Admitted
from council.orchestrator.events import MemberAnswer, ModelCall, PathName, Ranking
from council.orchestrator.smart_router import RequestedPath
from council.orchestrator.turn_options import CouncilMembers, RankingChoice, ReviewRoundChoice

router = APIRouter(prefix="/api", tags=["chat"])


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, description="The user's message; may start with /council, /fast or /agent NAME.")
    thread_id: str | None = Field(
        None,
        pattern=ID_PATTERN,
        description="One of your conversations to continue (404 for an unknown one or another client's); omitted = a "
        "new conversation, whose ID the server mints and returns.",
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


async def _admit(body: ChatRequest, orchestrator: OrchestratorDep, caller: CallerDep, client: ClientDep) -> Admitted:
    """The turn checked, routed and charged before anything is answered: a refusal is this request's 4xx."""
    return await orchestrator.admit(
        body.message,
        body.path,
        members=body.members,
        caller=caller,
        client=client,
        thread_id=body.thread_id,
        review_round=body.review_round,
        ranking=body.ranking,
    )


AdmittedDep = Annotated[Admitted, Depends(_admit)]


@router.post("/chat", summary="Answer one message (fast path or council), remembered in its thread")
async def create_chat(admitted: AdmittedDep, orchestrator: OrchestratorDep) -> ChatResponse:
    final = await orchestrator.answer(admitted)
    return ChatResponse(
        thread_id=final.thread_id or "",
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
async def stream_chat(admitted: AdmittedDep, orchestrator: OrchestratorDep) -> EventStreamResponse:
    async def events() -> AsyncIterator[str]:
        # A client that disconnects cancels this generator, and with it the turn and its generations.
        async for event in orchestrator.stream(admitted):
            yield f"event: {event.type}\ndata: {event.model_dump_json()}\n\n"

    thread_id = admitted.thread_id or ""
    return EventStreamResponse(
        events(),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Thread-ID": thread_id},
    )
