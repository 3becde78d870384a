"""Liveness and readiness probes (`application/health+json`)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from council import __version__
from council.api.deps import VoiceDep
from council.health import health_response

SERVICE_ID = "hybrid-council-main"

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_class=JSONResponse, summary="The process is up")
async def get_liveness() -> JSONResponse:
    return health_response(SERVICE_ID, __version__)


@router.get("/ready", response_class=JSONResponse, summary="Dependencies are usable (voice down is only warn)")
async def get_readiness(voice: VoiceDep) -> JSONResponse:
    return health_response(SERVICE_ID, __version__, [await voice.readiness_check()])
