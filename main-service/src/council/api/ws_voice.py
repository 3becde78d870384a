"""`WS /ws/voice`: talk to the council in real time (the session: `council.sessions.voice`; protocol:
docs/voice-socket.md). The route hands a `VoiceSession` to the client's session slot (`voice_sockets`)."""

import structlog
from fastapi import APIRouter, WebSocket

from council.api.deps import (
    CallerDep,
    ClientDep,
    MetricsDep,
    OrchestratorDep,
    RateLimiterDep,
    SettingsDep,
    SpokenClipsDep,
    VoiceDep,
    VoiceSessionsDep,
)
from council.api.voice_sockets import serve_in_slot
from council.sessions.voice import VoiceSession

log = structlog.get_logger(__name__)

router = APIRouter(tags=["websocket"])


@router.websocket("/ws/voice")
async def voice_socket(
    websocket: WebSocket,
    orchestrator: OrchestratorDep,
    voice: VoiceDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    caller: CallerDep,
    client: ClientDep,
    rate_limiter: RateLimiterDep,
    sessions: VoiceSessionsDep,
    clips: SpokenClipsDep,
) -> None:
    session = VoiceSession(websocket, orchestrator, voice, settings, caller, clips, rate_limiter, metrics)
    await serve_in_slot(websocket, sessions, client, metrics, surface="voice", serve=session.serve)
