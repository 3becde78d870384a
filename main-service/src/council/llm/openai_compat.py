"""Any OpenAI-compatible `/v1/chat/completions` server (Ollama, vLLM, llama.cpp server), streamed."""

import time
from collections.abc import AsyncIterator
from typing import Any

import openai
from openai import AsyncOpenAI
from pydantic import ConfigDict

from council.health import Check, HealthStatus
from council.llm.base import CouncilChatModel, ModelCallError, Usage


class OpenAICompatChatModel(CouncilChatModel):
    """A council role answered by a remote server; one pooled client per role."""

    llm_type = "council-openai-compatible"

    client: AsyncOpenAI
    probe_timeout_s: float = 2.0

    model_config = ConfigDict(arbitrary_types_allowed=True)

    async def _stream_impl(
        self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Usage]:
        request: dict[str, Any] = {
            "model": self.model_name,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.seed is not None:
            request["seed"] = self.seed
        try:
            stream = await self.client.chat.completions.create(**request)
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        yield Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        if choice.delta.content:
                            yield choice.delta.content
        except openai.APIError as exc:
            raise ModelCallError(f"{self.client.base_url} failed for model {self.model_name!r}: {exc}") from exc

    async def readiness_check(self) -> Check:
        started = time.perf_counter()
        name = f"llm:{self.client.base_url.host}"
        try:
            await self.client.with_options(timeout=self.probe_timeout_s, max_retries=0).models.list()
        except openai.APIError as exc:
            return Check(name=name, status=HealthStatus.FAIL, output=f"{self.client.base_url}: {exc}")
        latency = round((time.perf_counter() - started) * 1000, 1)
        return Check(name=name, status=HealthStatus.PASS, observed={"observedValue": latency, "observedUnit": "ms"})

    async def aclose(self) -> None:
        await self.client.close()
