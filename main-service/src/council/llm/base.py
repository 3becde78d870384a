"""The one interface every backend implements: a LangChain chat model that streams tokens, usage and timings."""

import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import agenerate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from council.health import Check


class ModelCallError(Exception):
    """A model backend failed to answer (server down, bad reply, llama.cpp error)."""


@dataclass(frozen=True)
class Usage:
    """Tokens one call consumed, as the backend counted them."""

    input_tokens: int
    output_tokens: int


_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def as_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as `{"role", "content"}` dicts, the shape llama.cpp and OpenAI servers take."""
    return [{"role": _ROLES.get(message.type, "user"), "content": message.text} for message in messages]


class CouncilChatModel(BaseChatModel):
    """Streams through `_stream_impl`; this base adds timing and usage to the last chunk, so callers see one shape.

    The final chunk carries `usage_metadata` (input/output tokens) and `response_metadata` with `model_name`,
    `ttft_ms` (time to the first token) and `latency_ms` (whole call).
    """

    llm_type: ClassVar[str]
    """Which backend answers (LangChain reads it as `_llm_type`, for its callbacks and traces)."""

    model_name: str
    max_tokens: int = 256
    temperature: float = 0.7
    seed: int | None = None
    """Sampling seed (None: the backend's own randomness). With it a sampled answer repeats from the same context
    state (llama.cpp, and the OpenAI-compatible servers that honour `seed`)."""
    context_tokens: int = 2048

    @property
    def _llm_type(self) -> str:
        return self.llm_type

    @abstractmethod
    def _stream_impl(
        self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Usage]:
        """Yield text deltas as they are generated, then at most one `Usage`."""

    @abstractmethod
    async def readiness_check(self) -> Check:
        """Whether this model can answer now (loaded, or its server reachable)."""

    async def aclose(self) -> None:
        """Release what the model holds (HTTP clients); contexts shared by a pool are closed by their owner."""

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        started = time.perf_counter()
        first_token: float | None = None
        usage: Usage | None = None
        produced = 0
        stream = self._stream_impl(
            as_openai_messages(messages),
            max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
            temperature=float(kwargs.get("temperature", self.temperature)),
        )
        async for piece in stream:
            if isinstance(piece, Usage):
                usage = piece
                continue
            first_token = first_token or time.perf_counter()
            produced += 1
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                await run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        finished = time.perf_counter()
        # Servers that do not report usage in streams (llama.cpp's) get an estimate, flagged `usage_reported=False`.
        input_tokens = usage.input_tokens if usage else count_tokens_approximately(messages)
        output_tokens = usage.output_tokens if usage else produced
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata={
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                },
                response_metadata={
                    "model_name": self.model_name,
                    "ttft_ms": round(((first_token or finished) - started) * 1000, 2),
                    "latency_ms": round((finished - started) * 1000, 2),
                    "usage_reported": usage is not None,
                },
            )
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise NotImplementedError("Council models are async only: use ainvoke or astream.")

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError("Council models are async only: use astream.")
