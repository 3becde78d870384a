"""One model call as the orchestrator makes it: trimmed prompt in, streamed deltas out, a `ModelCall` record back."""

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessageChunk, AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately, trim_messages

from council.llm import CouncilChatModel
from council.orchestrator.events import ModelCall

_MARGIN_TOKENS = 32  # the chat template's own tokens, which the approximate counter does not see


def prompt_for(model: CouncilChatModel, system_prompt: str, history: Sequence[AnyMessage]) -> list[BaseMessage]:
    """The system prompt plus the latest turns that fit the model's context next to its answer."""
    budget = model.context_tokens - model.max_tokens - count_tokens_approximately([system_prompt]) - _MARGIN_TOKENS
    kept: list[BaseMessage] = trim_messages(
        list(history),
        max_tokens=max(budget, 1),
        token_counter=count_tokens_approximately,
        strategy="last",
        start_on="human",
        allow_partial=False,
    )
    if not kept and history:
        # Even the latest message alone is too long: keep its tail rather than send nothing.
        kept = [HumanMessage(history[-1].text[-max(budget, 1) * 3 :])]
    return [SystemMessage(system_prompt), *kept]


async def call_model(
    model: CouncilChatModel,
    messages: Sequence[BaseMessage],
    *,
    role: str,
    phase: Any,
    on_delta: Callable[[str], None],
    max_tokens: int | None = None,
) -> tuple[str, ModelCall]:
    """Stream one answer, calling `on_delta` per text delta; return the text and the call's usage and timings.
    `max_tokens` caps this answer below the model's own limit."""
    total: AIMessageChunk | None = None
    limit = min(max_tokens, model.max_tokens) if max_tokens else model.max_tokens
    async for chunk in model.astream(list(messages), max_tokens=limit):
        assert isinstance(chunk, AIMessageChunk)
        if chunk.text:
            on_delta(chunk.text)
        total = chunk if total is None else total + chunk
    assert total is not None
    usage = total.usage_metadata or {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    meta = total.response_metadata
    call = ModelCall(
        role=role,
        phase=phase,
        model=model.model_name,
        input_tokens=usage["input_tokens"],
        output_tokens=usage["output_tokens"],
        ttft_ms=float(meta.get("ttft_ms", 0.0)),
        latency_ms=float(meta.get("latency_ms", 0.0)),
    )
    return total.text.strip(), call
