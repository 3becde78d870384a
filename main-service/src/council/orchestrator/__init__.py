"""The LangGraph orchestrator: smart router, concurrent council, synthesis, memory, typed events."""

from council.orchestrator.context import AgentPath, ThreadForgetter, TrailSignals, TurnObserver
from council.orchestrator.events import Event, FinalEvent
from council.orchestrator.service import Admitted, Orchestrator, open_orchestrator
from council.orchestrator.synthesis import CHAIR

__all__ = [
    "CHAIR",
    "Admitted",
    "AgentPath",
    "Event",
    "FinalEvent",
    "Orchestrator",
    "ThreadForgetter",
    "TrailSignals",
    "TurnObserver",
    "open_orchestrator",
]
