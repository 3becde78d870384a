"""The LangGraph orchestrator: smart router, concurrent council, synthesis, memory, typed events."""

from council.orchestrator.admission import Admitted, CallBudget
from council.orchestrator.context import AgentPath, ThreadForgetter, TrailSignals, TurnObserver
from council.orchestrator.events import Event, FinalEvent
from council.orchestrator.service import Orchestrator, open_orchestrator
from council.orchestrator.synthesis import CHAIR

__all__ = [
    "CHAIR",
    "Admitted",
    "AgentPath",
    "CallBudget",
    "Event",
    "FinalEvent",
    "Orchestrator",
    "ThreadForgetter",
    "TrailSignals",
    "TurnObserver",
    "open_orchestrator",
]
