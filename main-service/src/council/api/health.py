"""Liveness and readiness probes (`application/health+json`)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import HTTPConnection, Request

from council import __version__
from council.api.deps import KipDep, OrchestratorDep, PheromindDep, VoiceDep
from council.auth import caller_in
from council.health import Check, HealthResponse, health_response
from council.observability.readiness import ReadinessCache, without_details
from council.security import is_loopback

SERVICE_ID = "hybrid-council-main"

router = APIRouter(prefix="/health", tags=["health"])


def _readiness_cache(connection: HTTPConnection) -> ReadinessCache:
    cache: ReadinessCache = connection.state.readiness
    return cache


ReadinessCacheDep = Annotated[ReadinessCache, Depends(_readiness_cache)]


def _trusted(request: Request) -> bool:
    """The admin (any caller when no key is configured) or a process on this machine: the operator."""
    caller = caller_in(request.scope)
    return (caller is not None and caller.admin) or (request.client is not None and is_loopback(request.client.host))


@router.get("/live", response_class=HealthResponse, summary="The process is up")
async def get_liveness() -> HealthResponse:
    return health_response(SERVICE_ID, __version__)


@router.get(
    "/ready",
    response_class=HealthResponse,
    summary="Dependencies are usable (voice down is only warn)",
    description="The admin and callers on this machine get fresh probes with their details; anyone else gets the "
    "last probes (a few seconds old at most) as each check's status, without error text.",
)
async def get_readiness(
    request: Request,
    voice: VoiceDep,
    orchestrator: OrchestratorDep,
    kip: KipDep,
    pheromind: PheromindDep,
    cache: ReadinessCacheDep,
) -> HealthResponse:
    async def probe() -> list[Check]:
        llm_checks = await orchestrator.models.readiness_checks()
        stores = [await orchestrator.readiness_check(), await kip.readiness_check(), await pheromind.readiness_check()]
        return [*llm_checks, *stores, await voice.readiness_check()]

    trusted = _trusted(request)
    checks = await cache.checks(probe, fresh=trusted)
    return health_response(SERVICE_ID, __version__, checks if trusted else [without_details(c) for c in checks])
