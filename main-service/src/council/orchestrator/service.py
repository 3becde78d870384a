"""The orchestrator every surface uses: one turn in, typed events out; conversations kept per thread."""

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import structlog
from langchain_core.messages import AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from council.auth import LOCAL, Caller
from council.errors import CouncilError, ErrorCode, ForbiddenError, InvalidRequestError, NotFoundError
from council.health import Check
from council.ids import new_thread_id
from council.llm import ModelRegistry
from council.orchestrator.context import (
    AgentPath,
    AnswerCache,
    ThreadForgetter,
    TrailSignals,
    TurnContext,
    TurnObserver,
)
from council.orchestrator.events import ErrorEvent, Event, FinalEvent
from council.orchestrator.graph import build_graph
from council.orchestrator.memory import (
    OWNER_KEY,
    ConversationMessage,
    ConversationSummary,
    as_conversation,
    list_conversations,
    memory_check,
    open_checkpointer,
)
from council.orchestrator.preemption import Confirmation, HeldCheckpoints
from council.orchestrator.prompts import ROLE_PROMPTS
from council.orchestrator.smart_router import RequestedPath, RouteDecision, RoutingError, asked_of_models, decide
from council.orchestrator.synthesis import CHAIR, FAST
from council.orchestrator.thread_locks import ThreadLock, open_thread_locks
from council.settings import Settings

if TYPE_CHECKING:
    from council.orchestrator.state import TurnState

log = structlog.get_logger(__name__)

_TURN_OVER = object()


@dataclasses.dataclass(frozen=True)
class Admitted:
    """A request the orchestrator will serve, where it goes and how the council deliberates: checked and routed once
    (`Orchestrator.admit`) before anything streams, so a refusal is the caller's 4xx; the turn carries the route and
    its options into its graph."""

    message: str
    requested: RequestedPath
    role: str | None
    members: tuple[str, ...] | None
    route: RouteDecision
    review_round: bool = False
    """On the council path, members review each other's answers (the turn's choice, else the settings')."""
    ranking: bool = False
    """On the council path, members rank each other's answers for the chair (the turn's choice, else the settings')."""


class Orchestrator:
    def __init__(
        self,
        context: TurnContext,
        checkpointer: BaseCheckpointSaver[Any],
        max_message_chars: int,
        forgetters: Sequence[ThreadForgetter] = (),
        *,
        thread_locks: ThreadLock,
    ) -> None:
        self.context = context
        self.checkpointer = checkpointer
        self.max_message_chars = max_message_chars
        self.forgetters = forgetters
        self._graph = build_graph(checkpointer)
        self._stateless_graph = build_graph(None)
        self.thread_locks = thread_locks

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
        review_round: bool | None = None,
        ranking: bool | None = None,
    ) -> Admitted:
        """Refuse what no turn could serve, or this caller may not ask, and route what it can: the one routing
        decision of the turn (Pheromind's trail strength included), made before any streaming starts (so callers
        get a 4xx, not an event). `review_round` and `ranking` choose this turn's council stages (None: the
        settings' defaults); they change nothing off the council path."""
        if len(message) > self.max_message_chars:
            raise InvalidRequestError(
                f"The message has {len(message)} characters; the limit is {self.max_message_chars} "
                "(COUNCIL_DELIBERATION__MAX_MESSAGE_CHARS)."
            )
        if role is not None and role not in self.models.roles:
            raise NotFoundError(f"Unknown role {role!r}; roles: {', '.join(self.models.roles)}.")
        if members is not None:
            unknown = sorted(set(members) - set(self.context.members))
            if unknown or not members:
                raise InvalidRequestError(
                    f"Unknown council member(s) {', '.join(map(repr, unknown)) or '(none chosen)'}; "
                    f"the council's members are {', '.join(self.context.members)}."
                )
        ctx, kip = self.context, self.context.kip
        try:
            strength = await ctx.trails.strength(message) if ctx.trails is not None else None
            route = decide(
                message,
                requested=requested,
                kip_available=kip is not None,
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
        if route.path == "kip" and kip is not None and len(route.message) > kip.max_request_chars:
            raise InvalidRequestError(
                f"The request to agent {route.agent!r} has {len(route.message)} characters; "
                f"agents take at most {kip.max_request_chars}."
            )
        return Admitted(
            message,
            requested,
            role,
            None if members is None else tuple(members),
            route,
            review_round=ctx.review_round if review_round is None else review_round,
            ranking=ctx.ranking if ranking is None else ranking,
        )

    async def turn(
        self,
        message: str,
        *,
        thread_id: str | None = None,
        requested: RequestedPath = "auto",
        role: str | None = None,
        history: Sequence[AnyMessage] | None = None,
        members: Sequence[str] | None = None,
        spoken: bool = False,
        caller: Caller,
        admitted: Admitted | None = None,
        review_round: bool | None = None,
        ranking: bool | None = None,
        confirmation: Confirmation | None = None,
    ) -> AsyncIterator[Event]:
        """The turn's events, ending with `final`; raises `CouncilError` on failure, stops generation if closed.

        With `history` the turn is stateless (nothing is remembered); otherwise it continues `thread_id`
        (a new thread when None), after any turn already running on that thread. `members` narrows this turn's
        council to some of its configured members (in their configured order). A `spoken` turn (a voice session)
        asks the members and the chair for a brief answer in plain speech, and caps the members' answers. The
        `caller` (the route's reading of the request's key) decides whether an agent may run and whose answer
        cache the turn uses. `review_round` and `ranking` turn the council's review round and peer ranking on or off
        for this turn (None: the settings' defaults). A route that `admit`ted the request already passes it as
        `admitted` (its `message`, path, role, members and options then stand), so the request is checked and routed
        once. With a `confirmation` the turn is preemptive (`preemption.py`): it streams as any turn, but keeps
        nothing (checkpoint, cache, observers) and sends no `final` until it is confirmed.
        """
        if admitted is None:
            admitted = await self.admit(
                message, requested, role, members, caller=caller, review_round=review_round, ranking=ranking
            )
        elif admitted.message != message:
            raise ValueError("`admitted` is another message's admission.")
        members, route = admitted.members, admitted.route
        chosen = self.context.members if members is None else [m for m in self.context.members if m in members]
        # A turn that chose other council stages than the settings' neither reads nor fills the answer cache, which
        # keeps what a plain question gets.
        chose_stages = (admitted.review_round, admitted.ranking) != (self.context.review_round, self.context.ranking)
        context = dataclasses.replace(
            self.context,
            members=chosen,
            review_round=admitted.review_round,
            ranking=admitted.ranking,
            cache=None if chose_stages else self.context.cache,
            spoken=spoken,
            cache_scope=caller.name,
            started=time.perf_counter(),
            confirmation=confirmation,
        )
        turn_input: TurnState = {
            "messages": [*(history or []), HumanMessage(message)],
            "owner": caller.name,
            "raw_message": message,
            "requested": admitted.requested,
            "role": admitted.role,
            "path": route.path,
            "reason": route.reason,
            "message": route.message,
            "agent": route.agent,
        }
        thread: str | None = None
        if history is not None:
            graph, config = self._stateless_graph, RunnableConfig()
        else:
            thread = thread_id or new_thread_id()
            # The owner goes into every checkpoint's metadata too, where the listing filters on it (memory.py).
            config = RunnableConfig(configurable={"thread_id": thread}, metadata={OWNER_KEY: caller.name})
            graph = (
                self._graph if confirmation is None else build_graph(HeldCheckpoints(self.checkpointer, confirmation))
            )
        events: asyncio.Queue[object] = asyncio.Queue()

        async def run_graph() -> None:
            try:
                # The lock is the graph task's: it is held from reading the checkpoint to writing the next one,
                # and let go when the task ends, however it ends (done, failed, cancelled, or its reader gone).
                async with self.thread_locks.hold(thread) if thread else contextlib.nullcontext():
                    if thread is not None:  # checked under the lock: no other turn can claim the thread meanwhile
                        await self.check_thread(thread, caller)
                    async for item in graph.astream(turn_input, config, context=context, stream_mode="custom"):
                        events.put_nowait(item)
            finally:
                events.put_nowait(_TURN_OVER)

        # The graph runs in a task of its own, cancelled plainly when this generator is left early. Under an anyio
        # cancel scope (Starlette, uvicorn) LangGraph's own cleanup is re-cancelled at every await and would leave
        # the node running, decoding for nobody.
        graph_task = asyncio.create_task(run_graph(), name="council-turn")
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
        if final is not None:
            yield final

    async def stream(self, message: str, **kwargs: Any) -> AsyncIterator[Event]:
        """`turn`, with a failure turned into a last `error` event (for streams already under way)."""
        started = time.perf_counter()
        try:
            async for event in self.turn(message, **kwargs):
                yield event
        except CouncilError as exc:
            yield ErrorEvent(t_ms=_ms_since(started), code=exc.code.value, message=exc.message)
        except Exception:
            log.exception("turn_failed")
            yield ErrorEvent(
                t_ms=_ms_since(started), code=ErrorCode.INTERNAL_ERROR.value, message="The turn failed unexpectedly."
            )

    async def answer(self, message: str, **kwargs: Any) -> FinalEvent:
        """Run a whole turn and return its `final` event."""
        async for event in self.turn(message, **kwargs):
            if isinstance(event, FinalEvent):
                return event
        raise CouncilError("The turn ended without an answer.")

    async def _thread(self, thread_id: str) -> tuple[str, list[AnyMessage]] | None:
        """The thread's owner and messages; None when there is no such thread. Threads kept before owners were
        recorded belong to the local user."""
        snapshot = await self._graph.aget_state({"configurable": {"thread_id": thread_id}})
        messages = snapshot.values.get("messages") if snapshot.values else None
        if not messages:
            return None
        return str(snapshot.values.get("owner", LOCAL.name)), messages

    async def check_thread(self, thread_id: str, caller: Caller) -> None:
        """A turn may start a new thread or continue its caller's own, nobody else's (the admin's neither: the
        thread stays its owner's); anyone else is told there is no such thread, so thread IDs reveal nothing."""
        thread = await self._thread(thread_id)
        if thread is not None and thread[0] != caller.name:
            raise NotFoundError(f"No conversation with thread_id {thread_id!r}.")

    async def conversations(self, caller: Caller, limit: int = 100) -> list[ConversationSummary]:
        """The caller's conversations (the admin's: everyone's), most recently updated first."""
        return await list_conversations(self.checkpointer, limit, owner=None if caller.admin else caller.name)

    async def conversation(self, thread_id: str, caller: Caller) -> list[ConversationMessage]:
        """The thread's messages, for its owner or the admin; 404 for anyone else, as for an unknown thread."""
        thread = await self._thread(thread_id)
        if thread is None or not (caller.admin or thread[0] == caller.name):
            raise NotFoundError(f"No conversation with thread_id {thread_id!r}.")
        return as_conversation(thread[1])

    async def forget(self, thread_id: str, caller: Caller) -> None:
        """Delete the thread and, first, everything derived from it (the forgetters': KIP's conversation graph,
        Pheromind's trails); 404 for an unknown thread or someone else's. Under the thread's lock, so a turn
        running on it finishes (and records what it derived) before, and none starts until it is gone."""
        async with self.thread_locks.hold(thread_id):
            thread = await self._thread(thread_id)
            if thread is None or not (caller.admin or thread[0] == caller.name):
                raise NotFoundError(f"No conversation with thread_id {thread_id!r}.")
            owner, messages = thread
            kip = self.context.kip is not None
            questions = [asked_of_models(m.text, kip_available=kip) for m in messages if m.type == "human"]
            for forgetter in self.forgetters:
                await forgetter.forget_thread(thread_id, owner=owner, questions=questions)
            await self.checkpointer.adelete_thread(thread_id)


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
) -> AsyncIterator[Orchestrator]:
    """Load the models (unless given), open the checkpointer and the per-thread turn locks, and close them all
    afterwards."""
    owned = models is None
    if models is None:
        models = await asyncio.to_thread(
            ModelRegistry.from_settings, settings.llm, settings.deliberation.roles, council_roles(settings)
        )
    try:
        context = build_context(settings, models, kip=kip, trails=trails, cache=cache, observers=observers)
        async with open_checkpointer(settings.memory) as checkpointer, open_thread_locks(settings.memory) as locks:
            yield Orchestrator(
                context, checkpointer, settings.deliberation.max_message_chars, forgetters, thread_locks=locks
            )
    finally:
        if owned:
            await models.aclose()
