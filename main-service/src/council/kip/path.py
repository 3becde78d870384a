"""The orchestrator's KIP path: runs `/agent NAME …` through the agent runner and streams its events."""

from collections.abc import Callable

from council.agent_events import AgentOutput, AgentRefused
from council.kip.runner import MAX_REQUEST_CHARS, AgentRequest, AgentRunner


class KipPath:
    """Fits the orchestrator's `AgentPath` seam: emits each KipEvent (`kip.*`) and returns the answer text."""

    max_request_chars = MAX_REQUEST_CHARS
    """The orchestrator refuses a longer `/agent` request up front (422), before anything runs or is charged."""

    def __init__(self, runner: AgentRunner) -> None:
        self._runner = runner

    async def run(self, *, agent: str, message: str, thread_id: str | None, emit: Callable[[object], None]) -> str:
        answer = f"Agent {agent!r} produced no output."
        async for event in self._runner.run(agent, AgentRequest(text=message)):
            emit(event)
            match event:
                case AgentOutput(ok=True):
                    answer = event.text
                case AgentOutput():
                    answer = f"Agent {event.agent}'s {event.tool} tool failed: {event.text}"
                case AgentRefused():
                    answer = f"Agent {event.agent} did not run: {event.message}"
        return answer
