"""Writing the final answer: the chair synthesizes the council's answers, or one role answers on the fast path."""

from collections.abc import Sequence

from langchain_core.messages import AnyMessage, HumanMessage

from council.errors import ModelUnavailableError
from council.llm import ModelCallError
from council.orchestrator.calls import call_model, prompt_for
from council.orchestrator.context import EventWriter, TurnContext
from council.orchestrator.council import final_answers
from council.orchestrator.events import MemberAnswer, ModelCall, Ranking, SynthesisDeltaEvent
from council.orchestrator.prompts import SPOKEN_STYLE, synthesis_request

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

    try:
        # Not on the fast path: its answers are short already, and the longer prompt costs ~100 ms to first token.
        system_prompt = ctx.prompts[role] + (SPOKEN_STYLE if ctx.spoken and phase == "synthesis" else "")
        text, call = await call_model(
            model, prompt_for(model, system_prompt, history), role=role, phase=phase, on_delta=on_delta
        )
    except ModelCallError as exc:
        raise ModelUnavailableError(f"The {role} model failed: {exc}") from exc
    if not text:
        raise ModelUnavailableError(f"The {role} model returned an empty answer.")
    return text, call
