"""The conversation's checkpointer as a turn's graph writes through it: reads go straight through; each write may wait
for a go-ahead (a preemptive turn's confirmation, `preemption.py`); and what a step leaves for after its checkpoint
(the turn's observers and answer cache, `graph.remember`) runs only once that checkpoint is written, so a failed write
leaves no decision, trail, cached answer or metric of a turn the conversation never remembered."""

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.runtime import ExecutionInfo

AfterCommit = Callable[[], Awaitable[None]]
"""Work due once a step's checkpoint is written; it logs its own failures (the turn is remembered by then)."""
GoAhead = Callable[[], Awaitable[bool]]
"""Awaited before each write: True makes it, False drops it."""


class TurnCheckpoints(BaseCheckpointSaver[Any]):
    """Wraps the conversation's checkpointer for the turn graph (`graph.build_graph` puts every checkpointer in one)."""

    def __init__(self, saver: BaseCheckpointSaver[Any], *, go_ahead: GoAhead | None = None) -> None:
        super().__init__(serde=saver.serde)
        self.saver = saver
        self._go_ahead = go_ahead
        # Per thread, the id of the checkpoint a step started from and what is due once that step's checkpoint (the
        # next one, whose parent it is) is written. One entry per thread, as one turn at a time runs on a thread (its
        # lock); the turn drops its entry when it ends (`forget_due`), so a turn cancelled between its step and the
        # write leaves nothing for the thread's next write, whose parent may be that same checkpoint.
        self._due: dict[str, tuple[str, AfterCommit]] = {}

    def after_commit(self, step: ExecutionInfo, work: AfterCommit) -> None:
        """Run `work` once the checkpoint that `step` (a node's `runtime.execution_info`) writes is stored; never if
        that write fails or is dropped. LangGraph writes every step's checkpoint (its default durability, `async`),
        in order, each the child of the one the step started from, which is how the write is recognised."""
        if step.thread_id is not None:
            self._due[step.thread_id] = (step.checkpoint_id, work)

    def forget_due(self, thread_id: str) -> None:
        """The turn on `thread_id` has ended (under its lock): what it left due and was not written is void."""
        self._due.pop(thread_id, None)

    def _take_due(self, config: RunnableConfig) -> AfterCommit | None:
        configurable = config.get("configurable", {})
        thread_id = str(configurable.get("thread_id"))
        due = self._due.get(thread_id)
        if due is None or due[0] != configurable.get("checkpoint_id"):
            return None  # an earlier step's checkpoint, written while a later step already ran
        del self._due[thread_id]
        return due[1]

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self.saver.aget_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # the base class's name for it
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        async for item in self.saver.alist(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        due = self._take_due(config)  # taken first: a failed or dropped write leaves nothing due behind it
        if self._go_ahead is not None and not await self._go_ahead():
            configurable = config.get("configurable", {})
            return {
                "configurable": {
                    "thread_id": configurable.get("thread_id"),
                    "checkpoint_ns": configurable.get("checkpoint_ns", ""),
                    "checkpoint_id": checkpoint["id"],
                }
            }
        written = await self.saver.aput(config, checkpoint, metadata, new_versions)
        if due is not None:
            await due()
        return written

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        if self._go_ahead is None or await self._go_ahead():
            await self.saver.aput_writes(config, writes, task_id, task_path)

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.saver.get_next_version(current, channel)
