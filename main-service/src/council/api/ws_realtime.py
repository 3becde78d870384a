"""`WS /v1/realtime?model=council|fast|auto|<role>`: the council behind OpenAI's Realtime protocol, so the official
SDK and voice frameworks' OpenAI Realtime services talk to it (the session: `council.sessions.realtime`; protocol:
docs/realtime.md). Keys, Host and Origin checks are the middleware's, as for every socket; the session slot is the
one `/ws/voice` takes, so both surfaces share its caps."""

import structlog
from fastapi import APIRouter, WebSocket

from council.api.deps import CallerDep, ClientDep, OrchestratorDep, VoiceSessionsDep
from council.api.openai_compat import select_model
from council.api.voice_sockets import VoiceServicesDep, serve_in_slot
from council.errors import NotFoundError
from council.http_errors import error_response, refuse_handshake
from council.sessions.realtime import RealtimeSession
from council.sessions.socket import CLOSE_POLICY

log = structlog.get_logger(__name__)

router = APIRouter(tags=["websocket"])


@router.websocket("/v1/realtime")
async def realtime_socket(
    websocket: WebSocket,
    services: VoiceServicesDep,
    orchestrator: OrchestratorDep,
    caller: CallerDep,
    client: ClientDep,
    sessions: VoiceSessionsDep,
    model: str = "council",
) -> None:
    try:
        path, role = select_model(model, orchestrator)
    except NotFoundError as unknown:  # refused in the handshake: the SDK's connect says why
        log.info("realtime_model_unknown", model=model[:100])
        response = error_response(404, unknown.code, unknown.message)
        await refuse_handshake(websocket.scope, websocket.receive, websocket.send, response,
                               close_code=CLOSE_POLICY, reason="unknown model")  # fmt: skip
        return
    session = RealtimeSession(websocket, services, caller, (model, path, role))
    await serve_in_slot(websocket, sessions, client, services.metrics, surface="realtime", serve=session.serve)
