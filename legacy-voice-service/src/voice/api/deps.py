"""Annotated dependency aliases that reach the lifespan's resources, and the optional service-token check."""

import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from voice.engines.registry import EngineRegistry
from voice.errors import Unauthorized
from voice.observability.metrics import Metrics
from voice.settings import Settings


def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def _engines(request: Request) -> EngineRegistry:
    engines: EngineRegistry = request.state.engines
    return engines


def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(_settings)]
EnginesDep = Annotated[EngineRegistry, Depends(_engines)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]


def check_service_token(connection: HTTPConnection) -> None:
    """When VOICE_AUTH__SERVICE_TOKEN is set, require `Authorization: Bearer <token>` (HTTP and WebSocket)."""
    settings: Settings = connection.state.settings
    expected = settings.auth.service_token
    if expected is None:
        return
    scheme, _, given = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise Unauthorized(
            "A valid service token is required: send `Authorization: Bearer <VOICE_AUTH__SERVICE_TOKEN>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )


ServiceToken = Depends(check_service_token)
