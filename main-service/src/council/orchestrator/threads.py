"""Conversations and who owns them: the server mints each new thread's ID, a turn continues only its caller's own
thread, and the owner (or the admin) reads, lists and forgets it. Anyone else, for an unknown ID as for another's, gets
the same 404: an ID says nothing about whether it exists, and nobody can claim one before its owner (issue 26 §6)."""

import dataclasses
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AnyMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from council.auth import LOCAL, Caller
from council.errors import NotFoundError
from council.ids import new_thread_id
from council.orchestrator.context import ThreadForgetter
from council.orchestrator.memory import ConversationMessage, ConversationSummary, as_conversation, list_conversations
from council.orchestrator.smart_router import asked_of_models
from council.orchestrator.thread_locks import ThreadLock


@dataclasses.dataclass(frozen=True)
class _Thread:
    owner: str
    messages: list[AnyMessage]
    asked: list[str] | None
    """What each turn asked the models, as stored by the turns; None for a thread kept before they stored it."""


def _not_found(thread_id: str) -> NotFoundError:
    return NotFoundError(f"No conversation with thread_id {thread_id!r}.")


class Threads:
    def __init__(
        self,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        checkpointer: BaseCheckpointSaver[Any],
        locks: ThreadLock,
        forgetters: Sequence[ThreadForgetter] = (),
        *,
        kip_available: bool,
    ) -> None:
        self._graph = graph
        self._checkpointer = checkpointer
        self._locks = locks
        self.forgetters = forgetters
        self._kip_available = kip_available

    async def _thread(self, thread_id: str) -> _Thread | None:
        """The thread's owner, messages and what its turns asked; None when there is no such thread. Threads kept
        before owners were recorded belong to the local user."""
        snapshot = await self._graph.aget_state({"configurable": {"thread_id": thread_id}})
        values = snapshot.values or {}
        messages = values.get("messages")
        if not messages:
            return None
        return _Thread(str(values.get("owner", LOCAL.name)), messages, values.get("asked"))

    async def for_turn(self, thread_id: str | None, caller: Caller) -> str:
        """The thread a turn runs on: a new one (None: its ID minted here), or an existing one of the caller's own
        (the admin's neither: a thread stays its owner's). Checked before any lock is taken, so asking for someone
        else's busy thread neither waits nor holds anything; no lock is needed either, since a thread's owner never
        changes and a minted ID is known to nobody else."""
        if thread_id is None:
            return new_thread_id()
        thread = await self._thread(thread_id)
        if thread is None or thread.owner != caller.name:
            raise _not_found(thread_id)
        return thread_id

    async def listing(self, caller: Caller, limit: int = 100) -> list[ConversationSummary]:
        """The caller's conversations (the admin's: everyone's), most recently updated first."""
        return await list_conversations(self._checkpointer, limit, owner=None if caller.admin else caller.name)

    async def messages(self, thread_id: str, caller: Caller) -> list[ConversationMessage]:
        """The thread's messages, for its owner or the admin; 404 for anyone else, as for an unknown thread."""
        thread = await self._thread(thread_id)
        if thread is None or not (caller.admin or thread.owner == caller.name):
            raise _not_found(thread_id)
        return as_conversation(thread.messages)

    async def forget(self, thread_id: str, caller: Caller) -> None:
        """Delete the thread and, first, everything derived from it (the forgetters': KIP's conversation graph,
        Pheromind's trails); 404 for an unknown thread or someone else's. Under the thread's lock, so a turn
        running on it finishes (and records what it derived) before, and none starts until it is gone. The owner is
        checked before the lock too, so nobody else's request waits on the thread."""
        await self.messages(thread_id, caller)
        async with self._locks.hold(thread_id):
            thread = await self._thread(thread_id)  # again: it may have gone while the lock was awaited
            if thread is None:
                raise _not_found(thread_id)
            questions = thread.asked
            if questions is None:  # kept before turns stored what they asked: the router tells it again
                kip = self._kip_available
                questions = [asked_of_models(m.text, kip_available=kip) for m in thread.messages if m.type == "human"]
            for forgetter in self.forgetters:
                await forgetter.forget_thread(thread_id, owner=thread.owner, questions=questions)
            await self._checkpointer.adelete_thread(thread_id)
