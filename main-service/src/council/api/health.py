"""Liveness and readiness probes (`application/health+json`)."""

from fastapi import APIRouter

from council import __version__
from council.api.deps import KipDep, OrchestratorDep, PheromindDep, VoiceDep
from council.health import HealthResponse, health_response

SERVICE_ID = "hybrid-council-main"

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_class=HealthResponse, summary="The process is up")
async def get_liveness() -> HealthResponse:
    return health_response(SERVICE_ID, __version__)


@router.get("/ready", response_class=HealthResponse, summary="Dependencies are usable (voice down is only warn)")
async def get_readiness(
    voice: VoiceDep, orchestrator: OrchestratorDep, kip: KipDep, pheromind: PheromindDep
) -> HealthResponse:
    llm_checks = await orchestrator.models.readiness_checks()
    stores = [await orchestrator.readiness_check(), await kip.readiness_check(), await pheromind.readiness_check()]
    return health_response(SERVICE_ID, __version__, [*llm_checks, *stores, await voice.readiness_check()])
