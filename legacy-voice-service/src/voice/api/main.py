"""Every router, wired in one place; all but the health probes sit behind the optional service token."""

from fastapi import APIRouter

from voice.api import health, metrics, models, realtime, speech, transcriptions, vad
from voice.api.deps import ServiceToken
from voice.api.responses import ERROR_RESPONSES

api_router = APIRouter(responses=ERROR_RESPONSES)
api_router.include_router(health.router)

protected = APIRouter(dependencies=[ServiceToken])
for module in (transcriptions, speech, vad, models, metrics):
    protected.include_router(module.router)
api_router.include_router(protected)
# The socket checks the token itself, to refuse the handshake with a denial response in the JSON error shape.
api_router.include_router(realtime.router)
