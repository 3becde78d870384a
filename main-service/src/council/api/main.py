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
    ws_voice,
)
from council.api.responses import ERROR_RESPONSES

api_router = APIRouter(responses=ERROR_RESPONSES)
api_router.include_router(health.router)
api_router.include_router(metrics.router)
api_router.include_router(caller.router)
api_router.include_router(chat.router)
api_router.include_router(conversations.router)
api_router.include_router(openai_compat.router)
api_router.include_router(ws.router)
api_router.include_router(voice.router)
api_router.include_router(web.router)
api_router.include_router(ws_voice.router)
api_router.include_router(kip.router)
api_router.include_router(pheromind.router)
