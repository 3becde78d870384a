"""A turn started before the user's turn is confirmed (preemptive generation, in voice sessions): it runs as any turn,
but nothing of it is kept — no checkpoint, no cache entry, no observer's record — until it is confirmed; discarded,
it leaves no trace. `Confirmation` is its fate; `HeldCheckpoints` holds the graph's writes back until then."""

import asyncio
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from council.orchestrator.checkpoints import TurnCheckpoints


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


class HeldCheckpoints(TurnCheckpoints):
    """The conversation's checkpointer for one preemptive turn: each write waits for the turn's confirmation and is
    made then, or dropped if the turn is discarded (never left waiting, so the graph, and the thread's lock it holds,
    always finish)."""

    def __init__(self, saver: BaseCheckpointSaver[Any], confirmation: Confirmation) -> None:
        super().__init__(saver, go_ahead=confirmation.confirmed)
