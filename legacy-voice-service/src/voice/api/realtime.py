"""The real-time routes, one per protocol: `WS /v1/realtime` listens (`voice.sessions.transcription`) and
`WS /v1/realtime/speech` speaks (`voice.sessions.speech`). Both check the service token and share the replica's
session slots; the sessions do the rest."""

from collections.abc import Awaitable, Callable

import anyio
import structlog
from fastapi import APIRouter, WebSocket

from voice.api.deps import check_service_token
from voice.errors import TooManySessions, VoiceError
from voice.http_errors import error_response, refuse_handshake
from voice.sessions.events import SOCKET_GONE, error_body
from voice.sessions.speech import SpeechSession
from voice.sessions.transcription import INPUT_RATE, TranscriptionSession

log = structlog.get_logger(__name__)
router = APIRouter(tags=["realtime"])


async def _refuse(socket: WebSocket, error: VoiceError, close_code: int) -> None:
    log.info("realtime_refused", code=error.code.value, status=error.status_code, reason=error.message)
    response = error_response(error.status_code, error.code, error.message, error.headers)
    await refuse_handshake(
        socket.scope, socket.receive, socket.send, response, close_code=close_code, reason=error.message[:120]
    )


async def _serve(socket: WebSocket, session: Callable[[], Awaitable[None]]) -> None:
    """One real-time socket: the service token, then one of the replica's session slots (shared by both routes), then
    `session` until the client leaves."""
    settings = socket.state.settings
    try:
        check_service_token(socket)
    except VoiceError as error:
        await _refuse(socket, error, close_code=1008)
        return
    slots: anyio.CapacityLimiter = socket.state.realtime_sessions
    try:
        slots.acquire_nowait()
    except anyio.WouldBlock:
        busy = TooManySessions(
            f"All {settings.limits.max_realtime_sessions} realtime sessions are in use "
            "(VOICE_LIMITS__MAX_REALTIME_SESSIONS); retry shortly.",
            headers={"Retry-After": str(settings.limits.retry_after_seconds)},
        )
        await _refuse(socket, busy, close_code=1013)
        return
    try:
        await socket.accept()
        await session()
    except* SOCKET_GONE:
        pass  # the client left; from the speech session's task group this arrives inside an ExceptionGroup
    finally:
        slots.release()
        log.info("realtime_session_closed")


async def _refuse_after_accept(socket: WebSocket, message: str) -> None:
    await socket.send_json({"type": "error", "error": {"type": "invalid_request", "message": message}})
    await socket.close(code=1008)


@router.websocket("/v1/realtime")
async def transcription_session(socket: WebSocket) -> None:
    """Listening: audio in, turns and transcripts out (`TranscriptionSession`)."""

    async def session() -> None:
        intent = socket.query_params.get("intent", "transcription")
        if intent != "transcription":  # OpenAI's name for this session; anything else is not served here
            await _refuse_after_accept(
                socket, f"intent: only transcription on /v1/realtime (got {intent!r}); speech is WS /v1/realtime/speech"
            )
            return
        rate = socket.query_params.get("sample_rate", str(INPUT_RATE))
        if rate not in ("8000", "16000", "24000", "48000"):
            await _refuse_after_accept(socket, "sample_rate: 8000, 16000, 24000 or 48000")
            return
        await TranscriptionSession(socket, socket.state.engines, socket.state.settings, int(rate)).run()

    await _serve(socket, session)


@router.websocket("/v1/realtime/speech")
async def speech_session(socket: WebSocket) -> None:
    """Speaking: text deltas in as an LLM writes them, audio out sentence by sentence (`SpeechSession`)."""

    async def session() -> None:
        try:
            speaking = SpeechSession(
                socket, socket.state.engines, socket.state.settings, socket.query_params.get("voice")
            )
        except VoiceError as error:
            await socket.send_json({"type": "error", "error": error_body(error)})
            await socket.close(code=1008)
            return
        await speaking.run()

    await _serve(socket, session)
