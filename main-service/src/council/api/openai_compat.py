"""OpenAI-compatible `POST /v1/chat/completions` and `GET /v1/models`: the council as a model for any OpenAI client."""

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from pydantic import BaseModel, ConfigDict, Field

from council.api.deps import CallerDep, ClientDep, OrchestratorDep
from council.api.event_stream import EventStreamResponse
from council.api.responses import EVENT_STREAM_RESPONSES
from council.errors import InvalidRequestError, NotFoundError
from council.orchestrator import Orchestrator
from council.orchestrator.events import ErrorEvent, FinalEvent, ModelCall, SynthesisDeltaEvent
from council.orchestrator.smart_router import RequestedPath
from council.orchestrator.turn_options import CouncilMembers, RankingChoice, ReviewRoundChoice

router = APIRouter(prefix="/v1", tags=["openai"])

OWNER = "hybrid-council"
PATH_MODELS: dict[str, RequestedPath] = {"council": "council", "fast": "fast", "auto": "auto"}


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # sampling knobs are the roles' settings, not the caller's

    model: str = Field(description="council, fast, auto, or a role name (see GET /v1/models).")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    # The council's own turn options, as extension fields (the SDK's `extra_body`), as on /api/chat.
    members: CouncilMembers = None
    review_round: ReviewRoundChoice = None
    ranking: RankingChoice = None


def select_model(model: str, orchestrator: Orchestrator) -> tuple[RequestedPath, str | None]:
    """The path and role a model name asks for (`GET /v1/models` lists them); 404 for an unknown one."""
    if model in PATH_MODELS:
        return PATH_MODELS[model], None
    if model in orchestrator.models.roles:
        return "fast", model
    raise NotFoundError(f"Unknown model {model!r}; models: {', '.join(_model_ids(orchestrator))} (GET /v1/models).")


def _model_ids(orchestrator: Orchestrator) -> list[str]:
    return [*PATH_MODELS, *orchestrator.models.roles]


def _conversation(messages: list[ChatMessage]) -> tuple[str, list[AnyMessage]]:
    """The last user message and the turns before it; the client's system prompts give way to the roles' own."""
    if messages[-1].role != "user":
        raise InvalidRequestError("The last message must have role 'user'.")
    history: list[AnyMessage] = []
    for message in messages[:-1]:
        if message.role == "user":
            history.append(HumanMessage(message.text()))
        elif message.role == "assistant":
            history.append(AIMessage(message.text()))
    return messages[-1].text(), history


def _usage(calls: list[ModelCall]) -> dict[str, int]:
    prompt = sum(call.input_tokens for call in calls)
    completion = sum(call.output_tokens for call in calls)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _council_extension(final: FinalEvent) -> dict[str, Any]:
    return {
        "path": final.path,
        "reason": final.reason,
        "members": [m.model_dump() for m in final.members],
        "ranking": final.ranking.model_dump() if final.ranking else None,
    }


@router.get("/models", summary="The council, the fast path, the router, and each role as models")
async def list_models(orchestrator: OrchestratorDep) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "created": 0, "owned_by": OWNER} for name in _model_ids(orchestrator)],
    }


_COMPLETION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A `chat.completion` object, or with `stream: true` server-sent `chat.completion.chunk`s.",
        "content": {"application/json": {"schema": {"type": "object"}}, **EVENT_STREAM_RESPONSES[200]["content"]},
    }
}


@router.post(
    "/chat/completions",
    summary="Chat completion by the council (stream or not)",
    response_model=None,
    responses=_COMPLETION_RESPONSES,
)
async def create_chat_completion(
    body: ChatCompletionRequest, orchestrator: OrchestratorDep, caller: CallerDep, client: ClientDep
) -> dict[str, Any] | EventStreamResponse:
    requested, role = select_model(body.model, orchestrator)
    text, history = _conversation(body.messages)
    admitted = await orchestrator.admit(
        text,
        requested,
        role,
        body.members,
        caller=caller,
        client=client,
        history=history,
        review_round=body.review_round,
        ranking=body.ranking,
    )
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not body.stream:
        final = await orchestrator.answer(admitted)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": final.answer}, "finish_reason": "stop"}
            ],
            "usage": _usage(final.calls),
            "council": _council_extension(final),
        }
    include_usage = body.stream_options is not None and body.stream_options.include_usage

    def chunk(delta: dict[str, str], finish: str | None = None, **extra: Any) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {_json(payload)}\n\n"

    async def chunks() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        async for event in orchestrator.stream(admitted):
            if isinstance(event, SynthesisDeltaEvent):
                yield chunk({"content": event.text})
            elif isinstance(event, FinalEvent):
                yield chunk({}, "stop", council=_council_extension(event))
                if include_usage:
                    usage_chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created}
                    yield f"data: {_json({**usage_chunk, 'model': body.model, 'choices': [], 'usage': _usage(event.calls)})}\n\n"
            elif isinstance(event, ErrorEvent):
                # The OpenAI SDK raises an APIError for a chunk carrying `error`.
                yield f"data: {_json({'error': {'code': event.code, 'message': event.message}})}\n\n"
                return
        yield "data: [DONE]\n\n"

    return EventStreamResponse(chunks(), headers={"Cache-Control": "no-cache"})


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))
