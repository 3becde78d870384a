"""What every voice socket (`/ws/voice`, `/v1/realtime`) does around its session: take one of the client's session
slots (both surfaces share the caps), accept, count and log the session, and give the slot back however it ends."""

from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, WebSocket

from council.api.deps import (
    MetricsDep,
    OrchestratorDep,
    RateLimiterDep,
    SettingsDep,
    SpokenClipsDep,
    VoiceDep,
    WordsDep,
)
from council.auth import chosen_subprotocol
from council.http_errors import error_response, refuse_handshake
from council.observability.metrics import Metrics
from council.sessions.socket import CLOSE_TRY_LATER
from council.sessions.voice_core import VoiceServices
from council.voice.slots import SessionSlots, TooManySessionsError

log = structlog.get_logger(__name__)


def _voice_services(
    orchestrator: OrchestratorDep,
    voice: VoiceDep,
    settings: SettingsDep,
    clips: SpokenClipsDep,
    rate_limiter: RateLimiterDep,
    metrics: MetricsDep,
    words: WordsDep,
) -> VoiceServices:
    return VoiceServices(orchestrator, voice, settings, clips, rate_limiter, metrics, words)


VoiceServicesDep = Annotated[VoiceServices, Depends(_voice_services)]


async def serve_in_slot(
    websocket: WebSocket,
    slots: SessionSlots,
    client: str,
    metrics: Metrics | None,
    *,
    surface: str,
    serve: Callable[[], Awaitable[None]],
) -> None:
    """Serve `serve()` (the session) on the accepted socket while `client` holds a slot; over a cap, 429 with
    Retry-After in the handshake (a 1013 close where it cannot be sent). `surface` labels the metric and the log."""
    try:
        slots.take(client)
    except TooManySessionsError as refused:
        log.info("voice_sessions_full", reason=refused.message, surface=surface)
        response = error_response(refused.status_code, refused.code, refused.message, refused.headers)
        await refuse_handshake(websocket.scope, websocket.receive, websocket.send, response,
                               close_code=CLOSE_TRY_LATER, reason="too many voice sessions")  # fmt: skip
        return
    try:
        await websocket.accept(subprotocol=chosen_subprotocol(websocket.headers))
        if metrics is not None:
            metrics.websocket_sessions.labels(surface).inc()
        log.info("websocket_opened", endpoint=websocket.url.path)
        try:
            await serve()
        finally:
            if metrics is not None:
                metrics.websocket_sessions.labels(surface).dec()
            log.info("websocket_ended", endpoint=websocket.url.path)
    finally:
        slots.give_back(client)
