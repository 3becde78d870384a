"""`WS /ws/chat`: one socket, many concurrent turns (the session: `council.sessions.chat`; protocol: docs/websocket.md)."""

import structlog
from fastapi import APIRouter, WebSocket

from council.api.deps import CallerDep, MetricsDep, OrchestratorDep, RateLimiterDep, SettingsDep
from council.auth import chosen_subprotocol
from council.sessions.chat import ChatSession

log = structlog.get_logger(__name__)

router = APIRouter(tags=["websocket"])


@router.websocket("/ws/chat")
async def chat_socket(
    websocket: WebSocket,
    orchestrator: OrchestratorDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    caller: CallerDep,
    rate_limiter: RateLimiterDep,
) -> None:
    await websocket.accept(subprotocol=chosen_subprotocol(websocket.headers))
    session = ChatSession(websocket, orchestrator, settings.ws, caller, rate_limiter)
    metrics.websocket_sessions.labels("chat").inc()
    log.info("websocket_opened", endpoint="/ws/chat")
    try:
        await session.serve()
    finally:
        await session.stop()
        metrics.websocket_sessions.labels("chat").dec()
        log.info("websocket_ended", endpoint="/ws/chat")
