"""The LangGraph orchestrator: smart router, concurrent council, synthesis, memory, typed events."""

from council.orchestrator.context import AgentPath, ThreadForgetter, TrailSignals, TurnObserver
from council.orchestrator.events import Event, FinalEvent
from council.orchestrator.service import Admitted, Orchestrator, open_orchestrator

__all__ = [
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
