"""Liveness and readiness probes (`application/health+json`); always open, even when a service token is set."""

from fastapi import APIRouter

from voice import __version__
from voice.api.deps import EnginesDep
from voice.health import HealthResponse, health_response

SERVICE_ID = "hybrid-council-voice"

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_class=HealthResponse, summary="The process is up")
async def get_liveness() -> HealthResponse:
    return health_response(SERVICE_ID, __version__)


@router.get("/ready", response_class=HealthResponse, summary="Engines are loaded and warmed")
async def get_readiness(engines: EnginesDep) -> HealthResponse:
    # Default engines fail the probe until loaded and warm; optional ones only warn.
    return health_response(SERVICE_ID, __version__, engines.checks())
