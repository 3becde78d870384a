"""Annotated dependency aliases that reach the lifespan's resources."""

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from council.auth import is_configured_key
from council.errors import UnauthorizedError
from council.kip import Kip
from council.observability.metrics import Metrics
from council.orchestrator import Orchestrator
from council.pheromind import Pheromind
from council.settings import Settings
from council.voice import VoiceClient


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


def _require_api_key(request: HTTPConnection) -> None:
    """Mutations need `COUNCIL_AUTH__API_KEY` when one is set: `Authorization: Bearer KEY` or `X-API-Key: KEY`."""
    settings: Settings = request.state.settings
    if settings.auth.api_key is None:
        return
    if not is_configured_key(request.headers, settings.auth.api_key):
        raise UnauthorizedError(
            "This route needs the API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`.",
            headers={"WWW-Authenticate": "Bearer"},
        )


KipDep = Annotated[Kip, Depends(_kip)]
PheromindDep = Annotated[Pheromind, Depends(_pheromind)]
RequireApiKey = Depends(_require_api_key)
