"""Annotated dependency aliases that reach the lifespan's resources."""

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from council.auth import Caller, caller
from council.errors import ForbiddenError
from council.kip import Kip
from council.llm.end_of_turn import WordsEndOfTurn
from council.observability.metrics import Metrics
from council.orchestrator import Orchestrator
from council.pheromind import Pheromind
from council.ratelimit import RateLimiter, client_key
from council.settings import Settings
from council.voice import VoiceClient
from council.voice.clips import SpokenClips
from council.voice.slots import SessionSlots


class _State[T]:
    """A dependency that reads one resource the lifespan put on the app's state (`request.state.<name>`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, connection: HTTPConnection) -> T:
        resource: T = getattr(connection.state, self.name)
        return resource


def _require_admin(request: HTTPConnection) -> None:
    """KIP mutations need the admin key (`COUNCIL_AUTH__API_KEY`) when keys are configured; a client key is 403."""
    if not caller(request).admin:
        raise ForbiddenError("This route needs the admin key (COUNCIL_AUTH__API_KEY); a client key is not enough.")


def _client(connection: HTTPConnection) -> str:
    return client_key(connection.scope)


SettingsDep = Annotated[Settings, Depends(_State[Settings]("settings"))]
MetricsDep = Annotated[Metrics, Depends(_State[Metrics]("metrics"))]
VoiceDep = Annotated[VoiceClient, Depends(_State[VoiceClient]("voice"))]
OrchestratorDep = Annotated[Orchestrator, Depends(_State[Orchestrator]("orchestrator"))]
CallerDep = Annotated[Caller, Depends(caller)]
# Whose share a request counts against (turns, model calls, voice sessions): the caller's key, else its IP.
ClientDep = Annotated[str, Depends(_client)]
# The socket routes count each turn against the chat limit (None: limits are off).
RateLimiterDep = Annotated[RateLimiter | None, Depends(_State[RateLimiter | None]("rate_limiter"))]
VoiceSessionsDep = Annotated[SessionSlots, Depends(_State[SessionSlots]("voice_sessions"))]
SpokenClipsDep = Annotated[SpokenClips, Depends(_State[SpokenClips]("spoken_clips"))]
# Reads pauses' words for the voice service's turn decisions (None: turned off, or the model could not load).
WordsDep = Annotated[WordsEndOfTurn | None, Depends(_State[WordsEndOfTurn | None]("words"))]
KipDep = Annotated[Kip, Depends(_State[Kip]("kip"))]
PheromindDep = Annotated[Pheromind, Depends(_State[Pheromind]("pheromind"))]
RequireAdmin = Depends(_require_admin)
