"""Writing the final answer: the chair synthesizes the council's answers, or one role answers on the fast path."""

import asyncio
from collections.abc import Sequence

import structlog
from langchain_core.messages import AnyMessage, HumanMessage

from council.errors import ModelUnavailableError
from council.llm import ModelCallError
from council.orchestrator.calls import call_model, prompt_for
from council.orchestrator.context import EventWriter, TurnContext
from council.orchestrator.council import final_answers
from council.orchestrator.events import MemberAnswer, ModelCall, Ranking, SynthesisDeltaEvent
from council.orchestrator.prompts import SPOKEN_STYLE, synthesis_request

log = structlog.get_logger(__name__)

CHAIR = "chair"
FAST = "fast"


async def answer_directly(
    ctx: TurnContext, role: str, history: Sequence[AnyMessage], emit: EventWriter
) -> tuple[str, ModelCall]:
    """The fast path: one role answers the conversation; its deltas stream as the final answer's."""
    return await _write(ctx, role, "fast", history, emit)


async def synthesize(
    ctx: TurnContext,
    question: str,
    answers: Sequence[MemberAnswer],
    emit: EventWriter,
    ranking: Ranking | None = None,
) -> tuple[str, ModelCall]:
    """The chair reads the question, every surviving member's (reviewed) answer and the members' aggregate peer
    ranking when there is one, and writes the final answer."""
    request = synthesis_request(question, final_answers(answers), ranking)
    return await _write(ctx, CHAIR, "synthesis", [HumanMessage(request)], emit)


async def _write(
    ctx: TurnContext, role: str, phase: str, history: Sequence[AnyMessage], emit: EventWriter
) -> tuple[str, ModelCall]:
    model = ctx.models.get(role)

    def on_delta(text: str) -> None:
        emit(SynthesisDeltaEvent(t_ms=ctx.elapsed_ms(), role=role, text=text))

    # Not on the fast path: its answers are short already, and the longer prompt costs ~100 ms to first token.
    system_prompt = ctx.prompts[role] + (SPOKEN_STYLE if ctx.spoken and phase == "synthesis" else "")
    try:
        # The writer of the final answer is bounded like a member (COUNCIL_DELIBERATION__MEMBER_TIMEOUT_S): a chair
        # that stalls ends the turn with an error, it does not hold the client (and the thread's lock) for good.
        async with asyncio.timeout(ctx.member_timeout_s):
            text, call = await call_model(
                model, prompt_for(model, system_prompt, history), role=role, phase=phase, on_delta=on_delta
            )
    except TimeoutError as exc:
        log.warning("final_answer_timed_out", role=role, phase=phase, timeout_s=ctx.member_timeout_s)
        raise ModelUnavailableError(
            f"The {role} did not finish its answer within {ctx.member_timeout_s:g} s "
            "(COUNCIL_DELIBERATION__MEMBER_TIMEOUT_S)."
        ) from exc
    except ModelCallError as exc:  # the log keeps the backend and the exception; the client is told who failed
        log.warning("final_answer_failed", role=role, phase=phase, error=f"{type(exc).__name__}: {exc}")
        raise ModelUnavailableError(f"The {role} model failed; the service log has the details.") from exc
    if not text:
        raise ModelUnavailableError(f"The {role} model returned an empty answer.")
    return text, call
