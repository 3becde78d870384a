"""The council: members answer concurrently, optionally review each other's anonymised answers; failures drop out, and
so do the members a spoken turn's quorum or deadline leaves behind."""

import asyncio
from collections.abc import Sequence

import structlog
from langchain_core.messages import AnyMessage, HumanMessage

from council.errors import CouncilFailedError
from council.orchestrator.calls import call_model, prompt_for
from council.orchestrator.context import EventWriter, TurnContext
from council.orchestrator.events import (
    MemberAnswer,
    MemberDeltaEvent,
    MemberDoneEvent,
    MemberErrorCode,
    MemberFailedEvent,
    MemberStartEvent,
    ModelCall,
    Phase,
    ReviewEvent,
)
from council.orchestrator.prompts import RANKING_PROMPT, REVIEW_PROMPT, SPOKEN_STYLE, review_request

log = structlog.get_logger(__name__)


async def deliberate(
    ctx: TurnContext, history: Sequence[AnyMessage], question: str, emit: EventWriter
) -> tuple[list[MemberAnswer], list[ModelCall]]:
    """Every member answers at once (a spoken turn waits only for its quorum or deadline); with the review round on,
    the survivors revise after seeing the others."""
    calls: list[ModelCall] = []
    answers = await _answer(ctx, history, emit, calls)
    survivors = [answer for answer in answers if answer.status == "ok"]
    if not survivors:
        reasons = "; ".join(f"{answer.member}: {answer.error}" for answer in answers)
        raise CouncilFailedError(f"Every council member failed ({reasons}).")
    if ctx.review_round and len(survivors) > 1:
        emit(ReviewEvent(t_ms=ctx.elapsed_ms(), members=[answer.member for answer in survivors]))
        reviews = await asyncio.gather(
            *(
                member_turn(
                    ctx,
                    answer.member,
                    "review",
                    [HumanMessage(review_request(question, answer.answer, _others(survivors, answer.member)))],
                    emit,
                    calls,
                )
                for answer in survivors
            )
        )
        for answer, (text, _) in zip(survivors, reviews, strict=True):
            answer.review = text  # a failed review keeps the member's first answer
    return answers, calls


type _MemberTurn = asyncio.Task[tuple[str | None, str | None]]


async def _answer(
    ctx: TurnContext, history: Sequence[AnyMessage], emit: EventWriter, calls: list[ModelCall]
) -> list[MemberAnswer]:
    """Every member's answer, in the members' order. A written turn waits for every member; a spoken one only until
    `_spoken_quorum` lets the chair start, and the members still answering then are dropped like failed ones."""
    turns = {
        member: asyncio.create_task(
            member_turn(ctx, member, "answer", history, emit, calls), name=f"council-answer-{member}"
        )
        for member in ctx.members
    }
    dropped = ""
    try:
        if ctx.spoken:
            dropped = await _spoken_quorum(ctx, list(turns.values()))
        elif turns:
            await asyncio.wait(turns.values())
    finally:
        # Late members (a spoken turn), or every member when the turn itself is cancelled: each is cancelled, which
        # ends its model stream, and awaited, so none goes on generating for nobody or streams after its
        # `member.failed`.
        late = [turn for turn in turns.values() if not turn.done()]
        for turn in late:
            turn.cancel()
        if late:
            await asyncio.wait(late)
    answers: list[MemberAnswer] = []
    for member, turn in turns.items():
        if turn.cancelled():
            _member_failed(ctx, member, "answer", "dropped", dropped, emit)
            answers.append(MemberAnswer(member=member, status="failed", error=dropped))
            continue
        text, error = turn.result()
        answers.append(
            MemberAnswer(member=member, status="ok", answer=text)
            if text is not None
            else MemberAnswer(member=member, status="failed", error=error)
        )
    return answers


async def _spoken_quorum(ctx: TurnContext, turns: Sequence[_MemberTurn]) -> str:
    """Wait until a spoken turn's chair may start: once `spoken_quorum` members have answered, or once
    `spoken_deadline_s` has passed and at least one has; return why the members still answering then are dropped.

    Before the first answer the deadline does not count: the chair waits for it (or for every member to fail), since
    with nothing to synthesize the turn would fail, and a late answer is better than none."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.spoken_deadline_s
    asked = len(turns)
    quorum = min(ctx.spoken_quorum, asked)
    answered, pending = 0, set(turns)
    while pending:
        timeout = max(deadline - loop.time(), 0.0) if answered else None
        done, pending = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        answered += sum(turn.result()[0] is not None for turn in done)
        if answered >= quorum:
            return f"dropped: the spoken quorum answered ({answered} of {asked}) before it"
        # `not done`: the wait timed out, which it only does with an answer in hand and the deadline reached.
        if answered and (not done or loop.time() >= deadline):
            return (
                f"dropped: the spoken deadline ({ctx.spoken_deadline_s:g} s) passed with {answered} of {asked} answered"
            )
    return ""  # every member finished: nobody is dropped


def final_answers(answers: Sequence[MemberAnswer]) -> dict[str, str]:
    """Each member who answered, with its final word: the revised answer when it reviewed, else its answer."""
    return {answer.member: answer.review or answer.answer for answer in answers if answer.status == "ok"}


def _others(answers: Sequence[MemberAnswer], member: str) -> list[str]:
    return [answer.answer for answer in answers if answer.member != member]


async def member_turn(
    ctx: TurnContext,
    member: str,
    phase: Phase,
    history: Sequence[AnyMessage],
    emit: EventWriter,
    calls: list[ModelCall],
) -> tuple[str | None, str | None]:
    """One member's answer (or review, or ranking), or `(None, why)` after a `member.failed` event: a failure never
    sinks the council."""
    model = ctx.models.get(member)
    system_prompt = {"review": REVIEW_PROMPT, "ranking": RANKING_PROMPT}.get(phase, ctx.prompts[member])
    if ctx.spoken and phase != "ranking":  # a ranking is never spoken: it is one line of letters
        system_prompt += SPOKEN_STYLE
    caps = [
        ctx.spoken_member_max_tokens if ctx.spoken else None,
        ctx.ranking_max_tokens if phase == "ranking" else None,
    ]
    max_tokens = min((cap for cap in caps if cap is not None), default=None)
    emit(MemberStartEvent(t_ms=ctx.elapsed_ms(), member=member, phase=phase, model=model.model_name))

    def on_delta(text: str) -> None:
        emit(MemberDeltaEvent(t_ms=ctx.elapsed_ms(), member=member, phase=phase, text=text))

    try:
        async with asyncio.timeout(ctx.member_timeout_s):
            text, call = await call_model(
                model,
                prompt_for(model, system_prompt, history),
                role=member,
                phase=phase,
                on_delta=on_delta,
                max_tokens=max_tokens,
            )
    except TimeoutError:
        code: MemberErrorCode = "timeout"
        error = f"timed out after {ctx.member_timeout_s:g} s"
        detail = error
    except Exception as exc:  # any backend failure drops only this member; the log keeps what the client is not told
        code, error, detail = "model_failed", "its model call failed", f"{type(exc).__name__}: {exc}"
    else:
        if text:
            calls.append(call)
            emit(MemberDoneEvent(t_ms=ctx.elapsed_ms(), member=member, phase=phase, text=text, call=call))
            return text, None
        code = "empty_answer"
        error = detail = "its model returned an empty answer"
    _member_failed(ctx, member, phase, code, error, emit, detail=detail)
    return None, error


def _member_failed(
    ctx: TurnContext,
    member: str,
    phase: Phase,
    code: MemberErrorCode,
    error: str,
    emit: EventWriter,
    *,
    detail: str | None = None,
) -> None:
    """Say that `member` dropped out: the client is told the member, a code and `error`, a sentence of our own;
    the backend's URL and the exception (`detail`) go to the log only."""
    log.warning("council_member_failed", member=member, phase=phase, code=code, error=detail or error)
    emit(MemberFailedEvent(t_ms=ctx.elapsed_ms(), member=member, phase=phase, code=code, error=error))
