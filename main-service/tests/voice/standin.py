"""A STAND-IN voice service: a real HTTP server (Starlette under uvicorn, in a thread) whose answers a test sets.

For the failures the real voice service never produces on purpose (a readiness body that is not an object, a
real-time event that is not JSON), and for what a test needs heard exactly and at once (a scripted transcript per
audio frame), so that the main service's handling of them runs over real HTTP and WebSockets.
"""

import base64
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

HEALTHY: dict[str, Any] = {"status": "pass"}
SPOKEN_SAMPLES = 2_400  # 0.1 s at 24 kHz


class VoiceStandIn:
    """Answers `GET /health/ready`, `GET /v1/audio/voices` and `POST /v1/audio/vad` with the JSON in `answers`;
    on `WS /v1/realtime` a listening session answers each binary frame with the text in `realtime_answer`; on
    `WS /v1/realtime/speech` a speaking session "speaks" each text at its `speech.text.done`: 0.1 s of PCM whose every
    sample is the number of texts spoken before it (so a test can tell one synthesis from another), then
    `speech.audio.done`. The texts spoken are kept in `synthesized`, a listening session's text events in
    `listening_events`; a `session.update` is answered with `session.updated` echoing its turn detection (without
    `text_end_of_turn` when `reads_words` is off, as a voice service from before that field)."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {
            "/health/ready": HEALTHY,
            "/v1/audio/voices": {"voices": []},
            "/v1/audio/vad": {"segments": []},
        }
        self.realtime_answer = "{}"
        self.reads_words = True
        self.synthesized: list[str] = []
        self.listening_events: list[dict[str, Any]] = []
        self.calls: dict[str, int] = dict.fromkeys([*self.answers, "/v1/realtime", "/v1/realtime/speech"], 0)
        self.app = Starlette(
            routes=[
                Route("/health/ready", self.answer, methods=["GET"]),
                Route("/v1/audio/voices", self.answer, methods=["GET"]),
                Route("/v1/audio/vad", self.answer, methods=["POST"]),
                WebSocketRoute("/v1/realtime", self.realtime),
                WebSocketRoute("/v1/realtime/speech", self.realtime),
            ]
        )
        self.url = ""

    async def answer(self, request: Request) -> Response:
        path = request.url.path
        self.calls[path] += 1
        return JSONResponse(self.answers[path])

    async def realtime(self, socket: WebSocket) -> None:
        self.calls[socket.url.path] += 1
        await socket.accept()
        speaking = socket.url.path == "/v1/realtime/speech"
        text = ""  # of the utterance being spoken
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None and not speaking:
                    await socket.send_text(self.realtime_answer)
                elif message.get("text") is not None and speaking:
                    text = await self.speak(socket, json.loads(message["text"]), text)
                elif message.get("text") is not None:
                    event = json.loads(message["text"])
                    self.listening_events.append(event)
                    if event.get("type") == "session.update":
                        await socket.send_text(json.dumps(self.updated(event.get("session") or {})))
        except WebSocketDisconnect:
            return

    def updated(self, session: dict[str, Any]) -> dict[str, Any]:
        detection = session.get("turn_detection")
        if isinstance(detection, dict) and not self.reads_words:
            detection = {key: value for key, value in detection.items() if key != "text_end_of_turn"}
        return {"type": "session.updated", "session": {"turn_detection": detection}}

    async def speak(self, socket: WebSocket, event: dict[str, Any], text: str) -> str:
        """One event of a speaking session; returns the text of the utterance so far."""
        if event.get("type") == "speech.text.delta":
            return text + str(event.get("delta", ""))
        if event.get("type") == "speech.text.done":
            pcm = struct.pack("<h", len(self.synthesized)) * SPOKEN_SAMPLES
            self.synthesized.append(text)
            await socket.send_text(json.dumps({"type": "speech.audio.delta", "delta": base64.b64encode(pcm).decode()}))
            await socket.send_text(json.dumps({"type": "speech.audio.done"}))
            return ""
        if event.get("type") == "speech.cancel":
            await socket.send_text(json.dumps({"type": "speech.cancelled"}))
            return ""
        return text

    @contextmanager
    def running(self) -> Iterator["VoiceStandIn"]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off", ws="websockets-sansio"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:  # uvicorn offers no start event to wait on
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError("The voice stand-in did not start.")
                time.sleep(0.01)
            yield self
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()
