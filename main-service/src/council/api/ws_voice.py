"""`WS /ws/voice`: talk to the council in real time (the session: `council.sessions.voice`; protocol:
docs/voice-socket.md). The route hands a `VoiceSession` to the client's session slot (`voice_sockets`)."""

from fastapi import APIRouter, WebSocket

from council.api.deps import CallerDep, ClientDep, VoiceSessionsDep
from council.api.voice_sockets import VoiceServicesDep, serve_in_slot
from council.sessions.voice import VoiceSession

router = APIRouter(tags=["websocket"])


@router.websocket("/ws/voice")
async def voice_socket(
    websocket: WebSocket, services: VoiceServicesDep, caller: CallerDep, client: ClientDep, sessions: VoiceSessionsDep
) -> None:
    session = VoiceSession(websocket, services, caller)
    await serve_in_slot(websocket, sessions, client, services.metrics, surface="voice", serve=session.serve)
