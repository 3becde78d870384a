"""Annotated dependency aliases that reach the lifespan's resources."""

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from council.auth import Caller, caller
from council.errors import ForbiddenError
from council.kip import Kip
from council.observability.metrics import Metrics
from council.orchestrator import Orchestrator
from council.pheromind import Pheromind
from council.ratelimit import RateLimiter
from council.settings import Settings
from council.voice import VoiceClient
from council.voice.clips import SpokenClips
from council.voice.slots import SessionSlots


def _settings(request: HTTPConnection) -> Settings:
    settings: Settings = request.state.settings
    return settings


def _voice(request: HTTPConnection) -> VoiceClient:
    voice: VoiceClient = request.state.voice
    return voice


def _metrics(request: HTTPConnection) -> Metrics:
    metrics: Metrics = request.state.metrics
    return metrics


def _orchestrator(request: HTTPConnection) -> Orchestrator:
    orchestrator: Orchestrator = request.state.orchestrator
    return orchestrator


SettingsDep = Annotated[Settings, Depends(_settings)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
VoiceDep = Annotated[VoiceClient, Depends(_voice)]
OrchestratorDep = Annotated[Orchestrator, Depends(_orchestrator)]


def _kip(request: HTTPConnection) -> Kip:
    kip: Kip = request.state.kip
    return kip


def _pheromind(request: HTTPConnection) -> Pheromind:
    pheromind: Pheromind = request.state.pheromind
    return pheromind


def _require_admin(request: HTTPConnection) -> None:
    """KIP mutations need the admin key (`COUNCIL_AUTH__API_KEY`) when keys are configured; a client key is 403."""
    if not caller(request).admin:
        raise ForbiddenError("This route needs the admin key (COUNCIL_AUTH__API_KEY); a client key is not enough.")


def _rate_limiter(connection: HTTPConnection) -> RateLimiter | None:
    """The socket routes count each turn against the chat limit (None: limits are off)."""
    limiter: RateLimiter | None = connection.state.rate_limiter
    return limiter


def _voice_sessions(connection: HTTPConnection) -> SessionSlots:
    slots: SessionSlots = connection.state.voice_sessions
    return slots


def _spoken_clips(connection: HTTPConnection) -> SpokenClips:
    clips: SpokenClips = connection.state.spoken_clips
    return clips


CallerDep = Annotated[Caller, Depends(caller)]
RateLimiterDep = Annotated[RateLimiter | None, Depends(_rate_limiter)]
VoiceSessionsDep = Annotated[SessionSlots, Depends(_voice_sessions)]
SpokenClipsDep = Annotated[SpokenClips, Depends(_spoken_clips)]
KipDep = Annotated[Kip, Depends(_kip)]
PheromindDep = Annotated[Pheromind, Depends(_pheromind)]
RequireAdmin = Depends(_require_admin)
