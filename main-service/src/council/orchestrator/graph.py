"""The turn graph: route -> (fast | council -> rank -> synthesize | kip) -> remember. Plain async nodes; edges in one
block."""

import functools
from collections.abc import Awaitable
from typing import Any, Literal

import structlog
from langchain_core.messages import AIMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from council.observability.correlation import current_request_id
from council.orchestrator import synthesis
from council.orchestrator.checkpoints import TurnCheckpoints
from council.orchestrator.context import CachedTurn, TurnContext
from council.orchestrator.council import deliberate
from council.orchestrator.events import FinalEvent, RouteEvent, SynthesisDeltaEvent, timed
from council.orchestrator.ranking import rank as rank_answers
from council.orchestrator.state import TurnState

CACHE_ROLE = "cache"
"""The `role` of a cached answer's synthesis delta."""

TurnGraph = CompiledStateGraph[TurnState, TurnContext, TurnState, TurnState]

log = structlog.get_logger(__name__)


async def route(state: TurnState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """The route the orchestrator decided when it admitted the request (in the input), announced; an answer from
    Pheromind's cache replaces the models."""
    ctx = runtime.context
    decided, message = state["path"], state["message"]
    role = state.get("role") if decided == "fast" else None
    reason = f"model '{role}' selected by the caller" if role else state["reason"]
    hit = await _cached(state, runtime.context, message, decided) if role is None else None
    path = decided
    if hit is not None and hit.path in ("fast", "council"):
        path = "council" if hit.path == "council" else "fast"
        reason = f"answered from the Pheromind cache: the same question got a {hit.path} answer {hit.age_s:.1f} s ago"
    runtime.stream_writer(
        RouteEvent(
            t_ms=ctx.elapsed_ms(),
            path=path,
            reason=reason,
            role=(role or synthesis.FAST) if path == "fast" else None,
            agent=state.get("agent"),
            members=list(ctx.members) if path == "council" and hit is None else [],
            cached=hit is not None,
        )
    )
    return {
        "path": path,
        "reason": reason,
        "cached": hit is not None,
        "answers": [],
        "ranking": None,
        "calls": [],
        "answer": hit.answer if hit is not None else "",
    }


def _answers_the_question_alone(state: TurnState) -> bool:
    """The turn has no history before it (a thread's first message, a stateless call with no prior messages), so
    its answer depends on the question alone: the only kind the cache may keep or serve. Any other answer was
    shaped by a conversation (one user's PIN, a caller's made-up history) and must not reach another turn."""
    return len(state["messages"]) == 1


async def _cached(state: TurnState, ctx: TurnContext, message: str, path: str) -> CachedTurn | None:
    """Only a plain question the router was free to route may be answered from the cache, never a command."""
    if (
        ctx.cache is None
        or not _answers_the_question_alone(state)
        or state.get("requested", "auto") != "auto"
        or path == "kip"
        or message != state["raw_message"]
    ):
        return None
    hit = await ctx.cache.cached_answer(message, scope=ctx.cache_scope)
    return hit if hit is not None and hit.path in ("fast", "council") else None


async def _keep_answer(state: TurnState, ctx: TurnContext) -> None:
    """Keep a model's answer for the caller's next identical question, when it depends on the question alone. A
    spoken answer (brief, plain speech) or one from a role the caller picked is not what a plain question gets."""
    if (
        ctx.cache is None
        or not _answers_the_question_alone(state)
        or state.get("cached", False)
        or state["path"] not in ("fast", "council")
        or not state["answer"]
        or state.get("role") is not None
        or ctx.spoken
    ):
        return
    await ctx.cache.store_answer(state["message"], scope=ctx.cache_scope, answer=state["answer"], path=state["path"])


def _next_after_route(state: TurnState) -> Literal["cached", "fast", "council", "kip"]:
    return "cached" if state.get("cached") else state["path"]


async def cached(state: TurnState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    runtime.stream_writer(SynthesisDeltaEvent(t_ms=runtime.context.elapsed_ms(), role=CACHE_ROLE, text=state["answer"]))
    return {}


async def fast(state: TurnState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    role = state.get("role") or synthesis.FAST
    history = [*state["messages"][:-1], state["messages"][-1].model_copy(update={"content": state["message"]})]
    answer, call = await synthesis.answer_directly(runtime.context, role, history, runtime.stream_writer)
    return {"answer": answer, "calls": [call]}


async def council(state: TurnState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    history = [*state["messages"][:-1], state["messages"][-1].model_copy(update={"content": state["message"]})]
    answers, calls = await deliberate(runtime.context, history, state["message"], runtime.stream_writer)
    return {"answers": answers, "calls": calls}


async def rank(state: TurnState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """The peer ranking, when the turn asked for it (otherwise nothing happens here)."""
    ranking, calls = await rank_answers(runtime.context, state["message"], state["answers"], runtime.stream_writer)
    return {"ranking": ranking, "calls": [*state["calls"], *calls]}


async def synthesize(state: TurnState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    answer, call = await synthesis.synthesize(
        runtime.context, state["message"], state["answers"], runtime.stream_writer, state.get("ranking")
    )
    return {"answer": answer, "calls": [*state["calls"], call]}


async def kip(state: TurnState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    ctx = runtime.context
    # The router picks KIP only when a runner exists and the command named an agent.
    assert ctx.kip is not None
    assert state["agent"] is not None
    answer = await ctx.kip.run(
        agent=state["agent"],
        message=state["message"],
        thread_id=runtime.execution_info.thread_id if runtime.execution_info else None,
        emit=lambda event: runtime.stream_writer(timed(event, ctx.elapsed_ms())),
    )
    # The agent's own `kip.*` events went out above; the answer streams like any other, so every surface
    # (the OpenAI endpoint included) shows it.
    runtime.stream_writer(SynthesisDeltaEvent(t_ms=ctx.elapsed_ms(), role=state["agent"], text=answer))
    return {"answer": answer}


async def remember(
    state: TurnState, runtime: Runtime[TurnContext], *, checkpoints: TurnCheckpoints | None
) -> dict[str, Any]:
    """The answer joins the conversation. What the answer feeds (the cache, the observers) waits for the checkpoint
    that keeps it (`checkpoints`, None in a stateless graph), so a turn that fails to be remembered leaves none of it."""
    ctx = runtime.context
    if ctx.confirmation is not None and not await ctx.confirmation.confirmed():
        return {}  # a preemptive turn the user's words did not confirm: nothing of it is kept, nor said to be
    thread_id = runtime.execution_info.thread_id if runtime.execution_info else None
    final = FinalEvent(
        t_ms=ctx.elapsed_ms(),
        thread_id=thread_id,
        path=state["path"],
        reason=state["reason"],
        answer=state["answer"],
        members=state["answers"],
        calls=state["calls"],
        total_ms=ctx.elapsed_ms(),
        cached=state.get("cached", False),
        ranking=state.get("ranking"),
    )
    publish = functools.partial(_publish, state, ctx, final)
    if checkpoints is None or runtime.execution_info is None:
        await publish()  # a stateless turn writes nothing: its answer is all there is to wait for
    else:
        checkpoints.after_commit(runtime.execution_info, publish)
    runtime.stream_writer(final)
    return {"messages": [AIMessage(state["answer"], name=state["path"])]}


async def _publish(state: TurnState, ctx: TurnContext, final: FinalEvent) -> None:
    """Tell the answer cache, the caller's trails and the observers about a remembered turn; a failure of theirs is
    logged and costs their own record only (the turn is remembered by now)."""
    await _logged_if_failing("answer_cache_failed", _keep_answer(state, ctx), final)
    # A stateless turn lays no trail: a trail goes with its thread when the thread is deleted, and it has none.
    if ctx.trails is not None and final.thread_id is not None:
        laid = ctx.trails.record_turn(state["message"], scope=ctx.cache_scope)
        await _logged_if_failing("trail_deposit_failed", laid, final)
    for observer in ctx.observers:
        told = observer.turn_completed(final, state["message"])
        await _logged_if_failing("turn_observer_failed", told, final, observer=type(observer).__name__)


async def _logged_if_failing(event: str, effect: Awaitable[None], final: FinalEvent, **fields: str) -> None:
    try:
        await effect
    except Exception:  # the turn has its answer: a failing effect loses its own record, not the turn
        log.exception(event, path=final.path, thread_id=final.thread_id, request_id=current_request_id(), **fields)


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None) -> TurnGraph:
    """`checkpointer=None` gives a stateless graph (the OpenAI endpoint, whose clients send the history). Any other
    checkpointer is written through a `TurnCheckpoints` (unless it is one), which runs a turn's effects after commit."""
    checkpoints: TurnCheckpoints | None
    if checkpointer is None or isinstance(checkpointer, TurnCheckpoints):
        checkpoints = checkpointer
    else:
        checkpoints = TurnCheckpoints(checkpointer)
    builder = StateGraph(TurnState, context_schema=TurnContext)
    builder.add_node("route", route)
    builder.add_node("cached", cached)
    builder.add_node("fast", fast)
    builder.add_node("council", council)
    builder.add_node("rank", rank)
    builder.add_node("synthesize", synthesize)
    builder.add_node("kip", kip)
    builder.add_node("remember", functools.partial(remember, checkpoints=checkpoints))

    builder.add_edge(START, "route")
    builder.add_conditional_edges("route", _next_after_route, ["cached", "fast", "council", "kip"])
    builder.add_edge("cached", "remember")
    builder.add_edge("council", "rank")
    builder.add_edge("rank", "synthesize")
    builder.add_edge("fast", "remember")
    builder.add_edge("synthesize", "remember")
    builder.add_edge("kip", "remember")
    builder.add_edge("remember", END)
    return builder.compile(checkpointer=checkpoints, name="council-turn")
