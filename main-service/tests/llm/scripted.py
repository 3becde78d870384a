"""A scripted chat model for what the real model cannot be made to do on demand: fail, hang, or answer slowly.

It subclasses the real base, so the orchestrator sees the same streaming, usage and timing shape as in production.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence

from pydantic import Field

from council.health import Check, HealthStatus
from council.llm import CouncilChatModel, ModelCallError, Usage


class ScriptedChatModel(CouncilChatModel):
    llm_type = "scripted"

    tokens: Sequence[str] = ("scripted", " answer")
    delay_s: float = 0.0
    """Pause before each token (a slow member); a long pause makes a member time out."""
    fail_after: int | None = None
    """Raise `ModelCallError` after this many tokens (0 = before the first)."""
    prompts: list[list[dict[str, str]]] = Field(default_factory=list)
    """Every prompt the model was sent, so tests can read what the orchestrator showed it."""

    async def _stream_impl(
        self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str | Usage]:
        self.prompts.append(messages)
        for index, token in enumerate(self.tokens[:max_tokens]):
            if self.fail_after is not None and index >= self.fail_after:
                raise ModelCallError("scripted failure")
            await asyncio.sleep(self.delay_s)
            yield token
        if self.fail_after is not None and self.fail_after >= len(self.tokens):
            raise ModelCallError("scripted failure")
        yield Usage(input_tokens=sum(len(m["content"].split()) for m in messages), output_tokens=len(self.tokens))

    async def readiness_check(self) -> Check:
        return Check(name="llm:scripted", status=HealthStatus.PASS)
