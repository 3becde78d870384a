"""The LangGraph orchestrator: smart router, concurrent council, synthesis, memory, typed events."""

from council.orchestrator.context import KipRunner, ThreadForgetter, TrailSignals, TurnObserver
from council.orchestrator.events import Event, FinalEvent
from council.orchestrator.runner import Admitted, Orchestrator, open_orchestrator

__all__ = [
    "Admitted",
    "Event",
    "FinalEvent",
    "KipRunner",
    "Orchestrator",
    "ThreadForgetter",
    "TrailSignals",
    "TurnObserver",
    "open_orchestrator",
]
