"""A turn started before the user's turn is confirmed (preemptive generation, in voice sessions): it runs as any turn,
but nothing of it is kept — no checkpoint, no cache entry, no observer's record — until it is confirmed; discarded,
it leaves no trace. `Confirmation` is its fate; `HeldCheckpoints` holds the graph's writes back until then."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)


class Confirmation:
    """Decided once: `confirm` (the user's turn ended with the words it answers) or `discard` (it did not)."""

    def __init__(self) -> None:
        self._decided = asyncio.Event()
        self._confirmed = False

    def confirm(self) -> None:
        if not self._decided.is_set():
            self._confirmed = True
            self._decided.set()

    def discard(self) -> None:
        self._decided.set()

    @property
    def decided(self) -> bool:
        return self._decided.is_set()

    async def confirmed(self) -> bool:
        """Wait for the decision: True once confirmed, False once discarded."""
        await self._decided.wait()
        return self._confirmed


class HeldCheckpoints(BaseCheckpointSaver[Any]):
    """The conversation's checkpointer for one preemptive turn: reads go through; each write waits for the turn's
    confirmation and is made then, or dropped if the turn is discarded (never left waiting, so the graph, and the
    thread's lock it holds, always finish)."""

    def __init__(self, saver: BaseCheckpointSaver[Any], confirmation: Confirmation) -> None:
        super().__init__(serde=saver.serde)
        self.saver = saver
        self.confirmation = confirmation

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
        if await self.confirmation.confirmed():
            return await self.saver.aput(config, checkpoint, metadata, new_versions)
        configurable = config.get("configurable", {})
        return {
            "configurable": {
                "thread_id": configurable.get("thread_id"),
                "checkpoint_ns": configurable.get("checkpoint_ns", ""),
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        if await self.confirmation.confirmed():
            await self.saver.aput_writes(config, writes, task_id, task_path)

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.saver.get_next_version(current, channel)
