"""The orchestrator every surface uses: a request admitted once (`admission.py`), then its turn's typed events."""

import asyncio
import contextlib
import dataclasses
import functools
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import structlog
from langchain_core.messages import AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from council.auth import Caller
from council.errors import CouncilError, ErrorCode, ForbiddenError, InvalidRequestError, NotFoundError
from council.health import Check
from council.llm import ModelRegistry
from council.orchestrator.admission import AdmissionLimits, Admitted, CallBudget, client_of, turn_cost
from council.orchestrator.checkpoints import TurnCheckpoints
from council.orchestrator.context import (
    AgentPath,
    AnswerCache,
    ThreadForgetter,
    TrailSignals,
    TurnContext,
    TurnObserver,
)
from council.orchestrator.events import ErrorEvent, Event, FinalEvent
from council.orchestrator.fair_share import ClientShares
from council.orchestrator.graph import build_graph
from council.orchestrator.memory import OWNER_KEY, memory_check, open_checkpointer
from council.orchestrator.preemption import Confirmation, HeldCheckpoints
from council.orchestrator.prompts import ROLE_PROMPTS
from council.orchestrator.smart_router import RequestedPath, RoutingError, decide
from council.orchestrator.synthesis import CHAIR, FAST
from council.orchestrator.thread_locks import ThreadLock, open_thread_locks
from council.orchestrator.threads import Threads
from council.settings import Settings

if TYPE_CHECKING:
    from council.orchestrator.state import TurnState

log = structlog.get_logger(__name__)

_TURN_OVER = object()


class Orchestrator:
    def __init__(
        self,
        context: TurnContext,
        checkpointer: BaseCheckpointSaver[Any],
        admission: AdmissionLimits,
        forgetters: Sequence[ThreadForgetter] = (),
        *,
        thread_locks: ThreadLock,
    ) -> None:
        self.context = context
        self.checkpointer = checkpointer
        self.admission = admission
        self._graph = build_graph(checkpointer)
        self._stateless_graph = build_graph(None)
        self.thread_locks = thread_locks
        self.threads = Threads(
            self._graph, checkpointer, thread_locks, forgetters, kip_available=context.kip is not None
        )

    @property
    def models(self) -> ModelRegistry:
        return self.context.models

    async def readiness_check(self) -> Check:
        """Conversation memory: readiness fails while its database does not answer."""
        return await memory_check(self.checkpointer)

    async def admit(
        self,
        message: str,
        requested: RequestedPath = "auto",
        role: str | None = None,
        members: Sequence[str] | None = None,
        *,
        caller: Caller,
        client: str | None = None,
        thread_id: str | None = None,
        history: Sequence[AnyMessage] | None = None,
        review_round: bool | None = None,
        ranking: bool | None = None,
    ) -> Admitted:
        """Refuse what no turn could serve, or this caller may not ask or not now, and route and charge what it can:
        the one way into a turn, before any streaming starts (so callers get a 4xx, not an event).

        `thread_id` continues one of the caller's threads (another's, or an unknown one: 404); None starts a new one
        with an ID minted here; with `history` the turn is stateless (no thread, nothing kept). `client` is the
        fair-share key (`council.ratelimit.client_key`; in-process callers may leave it to the caller's name).
        `review_round` and `ranking` choose this turn's council stages (None: the settings' defaults); they change
        nothing off the council path. Checks run cheapest first and the budget is charged last, so a refused
        request costs its client nothing."""
        ctx, limits = self.context, self.admission
        client = client or client_of(caller)
        if len(message) > limits.max_message_chars:
            raise InvalidRequestError(
                f"The message has {len(message)} characters; the limit is {limits.max_message_chars} "
                "(COUNCIL_DELIBERATION__MAX_MESSAGE_CHARS)."
            )
        if role is not None and role not in self.models.roles:
            raise NotFoundError(f"Unknown role {role!r}; roles: {', '.join(self.models.roles)}.")
        if members is not None:
            unknown = sorted(set(members) - set(ctx.members))
            if unknown or not members:
                raise InvalidRequestError(
                    f"Unknown council member(s) {', '.join(map(repr, unknown)) or '(none chosen)'}; "
                    f"the council's members are {', '.join(ctx.members)}."
                )
        review_round = ctx.review_round if review_round is None else review_round
        ranking = ctx.ranking if ranking is None else ranking
        self._check_stages(caller, review_round=review_round, ranking=ranking)
        if history is not None and thread_id is not None:
            raise ValueError("A stateless turn (with `history`) has no thread.")
        thread = None if history is not None else await self.threads.for_turn(thread_id, caller)
        try:
            strength = await ctx.trails.strength(message, scope=caller.name) if ctx.trails is not None else None
            route = decide(
                message,
                requested=requested,
                kip_available=ctx.kip is not None,
                council_min_words=ctx.council_min_words,
                trail_strength=strength,
                hot_threshold=ctx.hot_threshold,
            )
        except RoutingError as exc:
            raise InvalidRequestError(str(exc)) from exc
        if route.path == "kip" and not caller.admin:
            raise ForbiddenError(
                f"Running agent {route.agent!r} spends its budget: like POST /api/kip/agents/{{id}}/runs it needs "
                "the admin key (COUNCIL_AUTH__API_KEY)."
            )
        if route.path == "kip" and ctx.kip is not None and len(route.message) > ctx.kip.max_request_chars:
            raise InvalidRequestError(
                f"The request to agent {route.agent!r} has {len(route.message)} characters; "
                f"agents take at most {ctx.kip.max_request_chars}."
            )
        asked = len(ctx.members) if members is None else len(set(members))
        cost = turn_cost(route, asked, review_round=review_round, ranking=ranking)
        slot = limits.shares.reserve(client)  # last but the charge: every check before it refuses without a count
        try:
            if limits.budget is not None and cost:
                await limits.budget.charge_calls(client, cost)
        except BaseException:
            slot.release()
            raise
        admitted = Admitted(
            message,
            requested,
            role,
            None if members is None else tuple(members),
            route,
            caller,
            client,
            thread,
            history=None if history is None else tuple(history),
            review_round=review_round,
            ranking=ranking,
            cost=cost,
            slot=slot,
        )
        # An admission a surface drops without running it (a client gone before its stream began, a preemptive answer
        # not started) gives its slot back when it is collected; a turn gives it back sooner, when its work ends.
        weakref.finalize(admitted, slot.release)
        return admitted

    def _check_stages(self, caller: Caller, *, review_round: bool, ranking: bool) -> None:
        """The review round and the ranking each cost another call per member: a client may turn one on only where
        the operator lets clients choose (the settings' defaults, and turning a stage off, are always allowed)."""
        if caller.admin or self.admission.clients_choose_stages:
            return
        chosen = [
            name
            for name, choice, default in (
                ("review_round", review_round, self.context.review_round),
                ("ranking", ranking, self.context.ranking),
            )
            if choice and not default
        ]
        if chosen:
            raise ForbiddenError(
                f"This service does not let clients turn on {' or '.join(chosen)}: each costs another model call per "
                "council member (COUNCIL_DELIBERATION__CLIENTS_CHOOSE_STAGES). Leave it out, or use the admin key."
            )

    async def turn(
        self, admitted: Admitted, *, spoken: bool = False, confirmation: Confirmation | None = None
    ) -> AsyncIterator[Event]:
        """The admitted turn's events, ending with `final`; raises `CouncilError` on failure, stops generation if
        closed.

        A thread's turn runs after any turn already running on that thread. A `spoken` turn (a voice session) asks
        the members and the chair for a brief answer in plain speech, and caps the members' answers. With a
        `confirmation` the turn is preemptive (`preemption.py`): it streams as any turn, but keeps nothing
        (checkpoint, cache, observers) and sends no `final` until it is confirmed. A stateless turn keeps nothing
        either: no checkpoint, no cached answer, and only the observers that keep nothing a caller could need to
        delete (those that are not also forgetters: a decision or trail of a conversation that has no thread could
        never be forgotten)."""
        members, route, caller = admitted.members, admitted.route, admitted.caller
        chosen = self.context.members if members is None else [m for m in self.context.members if m in members]
        # A turn that chose other council stages than the settings' neither reads nor fills the answer cache, which
        # keeps what a plain question gets; nor does a stateless one, whose answer depends on the history it brought.
        chose_stages = (admitted.review_round, admitted.ranking) != (self.context.review_round, self.context.ranking)
        forgetters = {id(forgetter) for forgetter in self.threads.forgetters}
        context = dataclasses.replace(
            self.context,
            members=chosen,
            review_round=admitted.review_round,
            ranking=admitted.ranking,
            cache=None if chose_stages or admitted.stateless else self.context.cache,
            observers=[o for o in self.context.observers if id(o) not in forgetters]
            if admitted.stateless
            else self.context.observers,
            spoken=spoken,
            cache_scope=caller.name,
            started=time.perf_counter(),
            confirmation=confirmation,
        )
        turn_input: TurnState = {
            "messages": [*(admitted.history or []), HumanMessage(admitted.message)],
            "owner": caller.name,
            "raw_message": admitted.message,
            "requested": admitted.requested,
            "role": admitted.role,
            "path": route.path,
            "reason": route.reason,
            "message": route.message,
            "asked": [route.message],
            "agent": route.agent,
        }
        thread = admitted.thread_id
        if thread is None:
            graph, config = self._stateless_graph, RunnableConfig()
        else:
            # The owner goes into every checkpoint's metadata too, where the listing filters on it (memory.py).
            config = RunnableConfig(configurable={"thread_id": thread}, metadata={OWNER_KEY: caller.name})
            graph = (
                self._graph if confirmation is None else build_graph(HeldCheckpoints(self.checkpointer, confirmation))
            )
        events: asyncio.Queue[object] = asyncio.Queue()
        shares = self.admission.shares

        async def run_graph() -> None:
            try:
                # The lock is the graph task's: it is held from reading the checkpoint to writing the next one,
                # and let go when the task ends, however it ends (done, failed, cancelled, or its reader gone).
                # The owner was checked at admission, before any lock: a waiter here waits for its own thread.
                waiting = functools.partial(shares.waiting, admitted.client)  # entered only while it waits
                async with self.thread_locks.hold(thread, waiting) if thread else contextlib.nullcontext():
                    try:
                        async for item in graph.astream(turn_input, config, context=context, stream_mode="custom"):
                            events.put_nowait(item)
                    finally:  # a turn cancelled before its answer's write must not publish at the next turn's
                        if thread is not None and isinstance(graph.checkpointer, TurnCheckpoints):
                            graph.checkpointer.forget_due(thread)
            finally:
                events.put_nowait(_TURN_OVER)

        # The graph runs in a task of its own, cancelled plainly when this generator is left early. Under an anyio
        # cancel scope (Starlette, uvicorn) LangGraph's own cleanup is re-cancelled at every await and would leave the
        # node running, decoding for nobody.
        graph_task = asyncio.create_task(run_graph(), name="council-turn")
        # Counted since admission until the graph's work has ended: a cancelled turn's slot comes back only once its
        # task has let go of the thread's lock, by the callback; one that ended is given back before its `final`.
        release = admitted.slot.release if admitted.slot is not None else lambda: None
        graph_task.add_done_callback(lambda _: release())
        final: FinalEvent | None = None
        try:
            while (item := await events.get()) is not _TURN_OVER:
                if isinstance(item, FinalEvent):
                    final = item  # held back until the checkpoint is written: `final` means remembered
                    continue
                yield item  # type: ignore[misc]  # custom mode yields exactly what the nodes wrote: our events
            await graph_task  # raises the turn's error, if any
        finally:
            graph_task.cancel()
            if graph_task.done():
                release()
        if final is not None:
            yield final

    async def stream(self, admitted: Admitted, **kwargs: Any) -> AsyncIterator[Event]:
        """`turn`, with a failure turned into a last `error` event (for streams already under way)."""
        started = time.perf_counter()
        try:
            async for event in self.turn(admitted, **kwargs):
                yield event
        except CouncilError as exc:
            yield ErrorEvent(t_ms=_ms_since(started), code=exc.code.value, message=exc.message)
        except Exception:
            log.exception("turn_failed")
            yield ErrorEvent(
                t_ms=_ms_since(started), code=ErrorCode.INTERNAL_ERROR.value, message="The turn failed unexpectedly."
            )

    async def answer(self, admitted: Admitted, **kwargs: Any) -> FinalEvent:
        """Run a whole turn and return its `final` event."""
        async for event in self.turn(admitted, **kwargs):
            if isinstance(event, FinalEvent):
                return event
        raise CouncilError("The turn ended without an answer.")


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def build_context(
    settings: Settings,
    models: ModelRegistry,
    *,
    kip: AgentPath | None = None,
    trails: TrailSignals | None = None,
    cache: AnswerCache | None = None,
    observers: Sequence[TurnObserver] = (),
) -> TurnContext:
    prompts = {**ROLE_PROMPTS}
    prompts.update({role: s.system_prompt for role, s in settings.deliberation.roles.items() if s.system_prompt})
    missing = [role for role in models.roles if role not in prompts]
    if missing:
        raise ValueError(
            f"Roles without a system prompt: {', '.join(missing)}; set system_prompt in COUNCIL_DELIBERATION__ROLES."
        )
    return TurnContext(
        models=models,
        members=list(settings.deliberation.members),
        prompts=prompts,
        review_round=settings.deliberation.review_round,
        ranking=settings.deliberation.ranking,
        ranking_max_tokens=settings.deliberation.ranking_max_tokens,
        seed=settings.llm.seed,
        member_timeout_s=settings.deliberation.member_timeout_s,
        council_min_words=settings.deliberation.council_min_words,
        spoken_member_max_tokens=settings.deliberation.spoken_member_max_tokens,
        spoken_quorum=settings.deliberation.spoken_quorum,
        spoken_deadline_s=settings.deliberation.spoken_deadline_s,
        context_tokens=settings.llm.context_tokens,
        kip=kip,
        trails=trails,
        cache=cache,
        hot_threshold=settings.pheromind.hot_threshold if trails is not None else None,
        observers=observers,
    )


def council_roles(settings: Settings) -> list[str]:
    """Every role that needs a model: the members, the chair, the fast role and any role configured by name."""
    return list(dict.fromkeys([*settings.deliberation.members, CHAIR, FAST, *settings.deliberation.roles]))


@contextlib.asynccontextmanager
async def open_orchestrator(
    settings: Settings,
    *,
    models: ModelRegistry | None = None,
    kip: AgentPath | None = None,
    trails: TrailSignals | None = None,
    cache: AnswerCache | None = None,
    observers: Sequence[TurnObserver] = (),
    forgetters: Sequence[ThreadForgetter] = (),
    budget: CallBudget | None = None,
) -> AsyncIterator[Orchestrator]:
    """Load the models (unless given), open the checkpointer and the per-thread turn locks, and close them all
    afterwards. `budget` charges each admitted turn's model calls to its client (the rate limiter; None: no budget)."""
    owned = models is None
    if models is None:
        models = await asyncio.to_thread(
            ModelRegistry.from_settings, settings.llm, settings.deliberation.roles, council_roles(settings)
        )
    try:
        context = build_context(settings, models, kip=kip, trails=trails, cache=cache, observers=observers)
        admission = AdmissionLimits(
            settings.deliberation.max_message_chars,
            ClientShares(settings.deliberation.max_turns_per_client, settings.memory.max_waiting_turns_per_client),
            clients_choose_stages=settings.deliberation.clients_choose_stages,
            budget=budget,
        )
        async with open_checkpointer(settings.memory) as checkpointer, open_thread_locks(settings.memory) as locks:
            yield Orchestrator(context, checkpointer, admission, forgetters, thread_locks=locks)
    finally:
        if owned:
            await models.aclose()
