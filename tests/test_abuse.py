"""Hostile clients against both services as processes: other sites' pages, garbage and floods on the sockets, giant
headers, the voice service dying in the middle of a real-time voice turn. Nothing may crash a service or hang a
socket."""

import io
import json
import signal
import socket
import wave
from typing import Any

import httpx
import pytest
from test_voice_socket import FRAME_BYTES, read_until_closed, speech_pcm16k
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import ServiceProcess, StartService


def ws_url(service: ServiceProcess, path: str) -> str:
    return service.url.replace("http", "ws") + path


@pytest.mark.parametrize(("service_name", "path"), [("main", "/api/conversations"), ("voice", "/v1/models")])
def test_a_page_that_rebinds_its_name_to_localhost_gets_400(
    service_name: str, path: str, request: pytest.FixtureRequest
) -> None:
    service: ServiceProcess = request.getfixturevalue(service_name)
    port = service.url.rsplit(":", 1)[1]
    # What a browser sends once the page's DNS points its own name at 127.0.0.1: the page's name in Host and Origin.
    rebound = {"Host": f"rebound.example:{port}", "Origin": f"http://rebound.example:{port}"}
    response = httpx.get(f"{service.url}{path}", headers=rebound)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "host_not_allowed"
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("service_name", "path"), [("main", "/ws/chat"), ("main", "/ws/voice"), ("voice", "/v1/realtime")]
)
def test_a_page_that_rebinds_its_name_cannot_open_a_socket(
    service_name: str, path: str, request: pytest.FixtureRequest
) -> None:
    service: ServiceProcess = request.getfixturevalue(service_name)
    port = int(service.url.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port)) as sock,  # the rebound name resolves here
        pytest.raises(InvalidStatus) as refused,
        connect(f"ws://rebound.example:{port}{path}", sock=sock, origin=f"http://rebound.example:{port}"),  # type: ignore[arg-type]
    ):
        pass
    assert refused.value.response.status_code == 403


def silence_wav(seconds: float = 0.5) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(bytes(int(16_000 * seconds) * 2))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("service_name", "path"), [("main", "/api/voice/transcribe"), ("voice", "/v1/audio/transcriptions")]
)
def test_another_sites_page_cannot_post_a_form_that_a_same_origin_page_or_a_program_may(
    service_name: str, path: str, request: pytest.FixtureRequest
) -> None:
    # A multipart post needs no CORS preflight: any page the user visits could make the browser send this one.
    service: ServiceProcess = request.getfixturevalue(service_name)
    files = {"file": ("silence.wav", silence_wav(), "audio/wav")}
    foreign = httpx.post(f"{service.url}{path}", files=files, headers={"Origin": "https://evil.example"}, timeout=60)
    cross_site = httpx.post(f"{service.url}{path}", files=files, headers={"Sec-Fetch-Site": "cross-site"}, timeout=60)
    program = httpx.post(f"{service.url}{path}", files=files, timeout=60)

    for refused in (foreign, cross_site):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "origin_not_allowed"
        assert refused.json()["error"]["request_id"] == refused.headers["x-request-id"]
    assert program.status_code == 200, program.text
    if service_name == "main":  # the web UI's own origin; the voice service serves no page
        own = {"Origin": service.url, "Sec-Fetch-Site": "same-origin"}
        assert httpx.post(f"{service.url}{path}", files=files, headers=own, timeout=60).status_code == 200


def test_invalid_utf8_in_a_text_frame_closes_chat_with_1007_and_the_service_lives_on(main: ServiceProcess) -> None:
    with connect(ws_url(main, "/ws/chat")) as socket:
        socket.send(b'{"type": "ping", "id": "\xff\xfe"}', text=True)  # a text frame whose bytes are not UTF-8
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1007
    assert httpx.get(f"{main.url}/health/live").status_code == 200


def test_a_flood_of_messages_gets_answers_or_errors_never_a_hang(main: ServiceProcess) -> None:
    with connect(ws_url(main, "/ws/chat")) as socket:
        for n in range(300):
            socket.send(json.dumps({"type": "ping", "id": f"p{n}"}))
        for n in range(10):
            socket.send(json.dumps({"type": "message", "id": f"m{n}", "text": "/fast hi"}))
        seen: dict[str, int] = {}
        while seen.get("final", 0) + seen.get("too_many_turns", 0) < 10:
            event = json.loads(socket.recv(timeout=120))
            key = event.get("code") if event["type"] == "error" else event["type"]
            seen[key] = seen.get(key, 0) + 1
    assert seen["pong"] == 300
    assert seen.get("final", 0) >= 4  # COUNCIL_WS__MAX_INFLIGHT_TURNS (4) run; the rest are refused, not lost
    assert set(seen) <= {"pong", "route", "synthesis.delta", "member.start", "member.delta", "member.done",
                         "final", "too_many_turns"}  # fmt: skip


@pytest.mark.parametrize("service_name", ["main", "voice"])
def test_giant_headers_are_refused_with_431(service_name: str, request: pytest.FixtureRequest) -> None:
    service: ServiceProcess = request.getfixturevalue(service_name)
    # The HTTP server parses headers of any size; the services refuse past *_LIMITS__MAX_HEADER_BYTES (16 KiB).
    response = httpx.get(f"{service.url}/health/live", headers={"X-Padding": "x" * 200_000}, timeout=10)
    assert response.status_code == 431
    assert response.json()["error"]["code"] == "headers_too_large"
    assert httpx.get(f"{service.url}/health/live").status_code == 200


def test_voice_garbage_is_answered_and_oversized_frames_close_1009(main: ServiceProcess) -> None:
    with connect(ws_url(main, "/ws/voice")) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "ready"
        socket.send("not json")
        bad_json = json.loads(socket.recv(timeout=10))
        socket.send(json.dumps({"type": "config", "path": "nowhere"}))
        bad_config = json.loads(socket.recv(timeout=10))
        socket.send(b"\x01\x02\x03")  # odd-length noise is trimmed to whole samples, not an error
        socket.send(json.dumps({"type": "ping"}))
        pong = json.loads(socket.recv(timeout=10))
        socket.send(bytes(64_000))  # over COUNCIL_VOICE_WS__MAX_FRAME_BYTES (32 000)
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert (bad_json["type"], bad_json["code"]) == ("error", "invalid_json")
    assert (bad_config["type"], bad_config["code"]) == ("error", "invalid_request")
    assert pong == {"type": "pong"}
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


def test_voice_killed_during_a_voice_turn_gives_an_error_and_text_chat_goes_on(
    start_voice: StartService, start_main: StartService, voice: ServiceProcess
) -> None:
    question = speech_pcm16k(voice, "What is the tallest mountain on Earth?")  # from the shared voice service
    doomed = start_voice()
    main = start_main(doomed, COUNCIL_VOICE__RETRY_ATTEMPTS="1")
    with connect(ws_url(main, "/ws/voice")) as socket:
        socket.recv(timeout=10)
        socket.send(json.dumps({"type": "config", "path": "fast"}))
        for start in range(0, len(question), FRAME_BYTES):
            socket.send(question[start : start + FRAME_BYTES])
        while json.loads(socket.recv(timeout=120))["type"] != "transcript":
            pass
        doomed.stop(signal.SIGKILL)  # the answer is being generated; its speech can no longer be made
        events: list[dict[str, Any]] = []
        with pytest.raises(ConnectionClosed) as closed:
            read_until_closed(socket, events)

    types = [event["type"] for event in events]
    errors = [event for event in events if event["type"] == "error"]
    assert [error["code"] for error in errors] == ["voice_unavailable"], errors  # said once
    assert "final" in types, types  # the answer's text goes on
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013  # then: try again later
    chat = httpx.post(f"{main.url}/api/chat", json={"message": "/fast Are you still there?"}, timeout=60)
    assert chat.status_code == 200
