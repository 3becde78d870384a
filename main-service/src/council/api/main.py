"""Every router, wired in one place."""

from fastapi import APIRouter

from council.api import (
    caller,
    chat,
    conversations,
    health,
    kip,
    metrics,
    openai_compat,
    pheromind,
    voice,
    web,
    ws,
    ws_realtime,
    ws_voice,
)
from council.api.responses import ERROR_RESPONSES

api_router = APIRouter(responses=ERROR_RESPONSES)
for module in (
    health,
    metrics,
    caller,
    chat,
    conversations,
    openai_compat,
    ws,
    voice,
    web,
    ws_voice,
    ws_realtime,
    kip,
    pheromind,
):
    api_router.include_router(module.router)
