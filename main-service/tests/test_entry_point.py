"""`python -m council` as a real process: it refuses to serve keyless on a network interface unless told to, and
uvicorn itself refuses WebSocket messages over the sessions' frame limits before reading them."""

import base64
import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from council.__main__ import WS_HEADROOM_BYTES, refusal_to_serve, ws_max_size
from council.settings import Settings
from tests.processes import free_port, running
from tests.voice.standin import VoiceStandIn

VOICE_FRAME_BYTES = 96_000  # 3 s of 16 kHz s16le: more than /ws/chat's 64 KiB, so it sets uvicorn's limit
SETTING = "COUNCIL_SECURITY__ALLOW_UNAUTHENTICATED_NETWORK"


def server_env(tmp_path: Path, port: int, **settings: str) -> dict[str, str]:
    """The process's environment: none of the developer's COUNCIL_* settings, this test's instead."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("COUNCIL_")}
    return env | {
        "COUNCIL_SERVER__PORT": str(port),
        "COUNCIL_MEMORY__DATA_DIR": str(tmp_path / "memory"),
        "COUNCIL_KIP__DATA_DIR": str(tmp_path / "kip"),
        "COUNCIL_LLM__POOL_SIZE": "1",
        **settings,
    }


@pytest.mark.parametrize(
    ("host", "keys", "allowed", "refused"),
    [
        ("127.0.0.1", {}, False, False),
        ("localhost", {}, False, False),
        ("::1", {}, False, False),
        ("127.0.0.2", {}, False, False),
        ("0.0.0.0", {}, False, True),
        ("::", {}, False, True),
        ("", {}, False, True),  # every interface
        ("192.168.1.20", {}, False, True),
        ("council.example", {}, False, True),
        ("0.0.0.0", {"api_key": "admin-key"}, False, False),
        ("0.0.0.0", {"client_keys": {"alice": "alice-key"}}, False, False),
        ("0.0.0.0", {}, True, False),
    ],
)
def test_a_keyless_service_serves_a_network_interface_only_when_told_to(
    host: str, keys: dict[str, object], allowed: bool, refused: bool
) -> None:
    settings = Settings(
        _env_file=None, server={"host": host}, auth=keys, security={"allow_unauthenticated_network": allowed}
    )
    assert (refusal_to_serve(settings) is not None) is refused


def test_no_key_on_a_network_interface_refuses_to_start_and_says_what_to_set(tmp_path: Path) -> None:
    port = free_port()
    env = server_env(tmp_path, port, COUNCIL_SERVER__HOST="0.0.0.0")
    # Run where no `.env` is: only this environment counts. A service that serves instead never exits (timeout).
    started = subprocess.run(
        [sys.executable, "-m", "council"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )

    assert started.returncode == 1
    assert SETTING in started.stderr
    assert "COUNCIL_AUTH__API_KEY" in started.stderr


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A keyless service on every interface, as compose runs it (the setting says so), with /ws/voice frames of up to
    3 s; its voice service a stand-in. Yields its port."""
    tmp_path = tmp_path_factory.mktemp("served")
    port = free_port()
    with VoiceStandIn().running() as standin:
        env = server_env(
            tmp_path,
            port,
            COUNCIL_SERVER__HOST="0.0.0.0",
            **{SETTING: "true"},
            COUNCIL_VOICE__BASE_URL=standin.url,
            COUNCIL_VOICE_WS__MAX_FRAME_BYTES=str(VOICE_FRAME_BYTES),
        )
        with running(["-m", "council"], ready_url=f"http://127.0.0.1:{port}/health/live", env=env):
            yield port


def test_uvicorns_limit_is_the_largest_frame_either_socket_allows_with_headroom() -> None:
    settings = Settings(_env_file=None, voice_ws={"max_frame_bytes": VOICE_FRAME_BYTES})
    assert ws_max_size(settings) == VOICE_FRAME_BYTES + WS_HEADROOM_BYTES
    assert ws_max_size(Settings(_env_file=None)) == 65_536 + WS_HEADROOM_BYTES  # /ws/chat's text frames


def test_the_operator_may_serve_keyless_on_a_network_interface_by_saying_so(served: int) -> None:
    with connect(f"ws://127.0.0.1:{served}/ws/chat") as chat:
        chat.send(json.dumps({"type": "ping", "id": "p"}))
        assert json.loads(chat.recv(timeout=10)) == {"type": "pong", "id": "p"}


def test_a_voice_frame_as_large_as_its_setting_allows_passes_uvicorn(served: int) -> None:
    with connect(f"ws://127.0.0.1:{served}/ws/voice") as voice:
        assert json.loads(voice.recv(timeout=30))["type"] == "ready"
        voice.send(bytes(VOICE_FRAME_BYTES))
        voice.send(json.dumps({"type": "ping"}))
        assert json.loads(voice.recv(timeout=10)) == {"type": "pong"}


def test_a_message_over_the_limit_is_closed_1009_from_its_header_alone(served: int) -> None:
    # A frame header announcing 8 MiB (half uvicorn's default limit), then only 1 KiB of it: the server must close
    # at once, not wait to buffer the rest.
    announced = 8 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", served), timeout=10) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        handshake = (
            f"GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1:{served}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.sendall(handshake.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 101"), answer
        # FIN + text, masked, 64-bit length; a zero mask leaves the payload as sent.
        sock.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, announced) + bytes(4) + bytes(1024))
        closing = b""
        while len(closing) < 4:  # a socket timeout (10 s) if the server waits for the payload instead
            received = sock.recv(4 - len(closing))
            assert received, f"the connection ended without a close frame: {closing!r}"
            closing += received

    assert closing[0] & 0x0F == 0x8, closing  # a close frame
    assert struct.unpack("!H", closing[2:4])[0] == 1009
