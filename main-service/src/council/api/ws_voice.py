"""`WS /ws/voice`: talk to the council in real time (the session: `council.sessions.voice`; protocol:
docs/voice-socket.md). The route takes a session slot, accepts the socket and hands it to a `VoiceSession`."""

import structlog
from fastapi import APIRouter, WebSocket

from council.api.deps import (
    CallerDep,
    MetricsDep,
    OrchestratorDep,
    RateLimiterDep,
    SettingsDep,
    SpokenClipsDep,
    VoiceDep,
    VoiceSessionsDep,
)
from council.auth import chosen_subprotocol
from council.errors import ErrorCode
from council.http_errors import error_response, refuse_handshake
from council.sessions.socket import CLOSE_TRY_LATER
from council.sessions.voice import VoiceSession
from council.settings import Settings

log = structlog.get_logger(__name__)

router = APIRouter(tags=["websocket"])

SESSIONS_RETRY_AFTER_S = 5  # a full house frees up as conversations end: retry soon


@router.websocket("/ws/voice")
async def voice_socket(
    websocket: WebSocket,
    orchestrator: OrchestratorDep,
    voice: VoiceDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    caller: CallerDep,
    rate_limiter: RateLimiterDep,
    sessions: VoiceSessionsDep,
    clips: SpokenClipsDep,
) -> None:
    if not sessions.take():
        await _refuse(websocket, settings)
        return
    try:
        await websocket.accept(subprotocol=chosen_subprotocol(websocket.headers))
        metrics.websocket_sessions.labels("voice").inc()
        log.info("websocket_opened", endpoint="/ws/voice")
        try:
            await VoiceSession(websocket, orchestrator, voice, settings, caller, clips, rate_limiter, metrics).serve()
        finally:
            metrics.websocket_sessions.labels("voice").dec()
            log.info("websocket_ended", endpoint="/ws/voice")
    finally:
        sessions.give_back()


async def _refuse(websocket: WebSocket, settings: Settings) -> None:
    """Over the session cap: 429 with Retry-After in the handshake (a 1013 close where it cannot be sent)."""
    limit = settings.voice_ws.max_sessions
    log.info("voice_sessions_full", limit=limit)
    message = f"Too many voice sessions: {limit} are open (COUNCIL_VOICE_WS__MAX_SESSIONS). Try again shortly."
    response = error_response(429, ErrorCode.RATE_LIMITED, message, {"Retry-After": str(SESSIONS_RETRY_AFTER_S)})
    await refuse_handshake(
        websocket.scope,
        websocket.receive,
        websocket.send,
        response,
        close_code=CLOSE_TRY_LATER,
        reason="too many voice sessions",
    )
