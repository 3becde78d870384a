"""Fixtures: in-process apps with their lifespan run, and one real uvicorn process of the service per session."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from voice.app import create_app
from voice.settings import Settings

SERVICE_TOKEN = "test-service-token"
STARTUP_TIMEOUT_S = 120.0


def engine_free_settings(**overrides: Any) -> Settings:
    """Settings with every engine off: the HTTP skeleton without loading a model."""
    sections: dict[str, Any] = {"stt": {"enabled": False}, "tts": {"enabled": False}, "vad": {"enabled": False}}
    sections.update(overrides)
    return Settings(_env_file=None, **sections)


AppClient = Callable[[Settings], TestClient]


@pytest.fixture
def app_client() -> Iterator[AppClient]:
    """Start an app with given settings (lifespan run, engines loaded and warmed) and close it after the test."""
    clients: list[TestClient] = []

    def start(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings), base_url="http://localhost", raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        client.portal.call(client.app_state["engines_loaded"].wait)  # type: ignore[union-attr]
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(app_client: AppClient) -> TestClient:
    return app_client(engine_free_settings())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Server:
    url: str
    process: "subprocess.Popen[bytes]"
    tmp_dir: Path
    log_path: Path
    startup_tmp_files: set[Path]  # written once while engines load (onnxruntime's `.ses`), not by requests

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {SERVICE_TOKEN}"}

    def metric(self, line_prefix: str, *, absent: float | None = None) -> float:
        """The value of one Prometheus sample, e.g. 'voice_synthesis_in_progress{engine="piper"}'. A sample that is
        not there fails the test, unless `absent` says what it means (a labelled counter appears only once counted):
        a renamed metric must not read as 0 and pass."""
        text = httpx.get(f"{self.url}/metrics", headers=self.headers).text
        for line in text.splitlines():
            if line.startswith(line_prefix + " "):
                return float(line.rsplit(" ", 1)[1])
        if absent is None:
            raise AssertionError(f"no sample {line_prefix} in /metrics")
        return absent


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real service in its own process: bundled models loaded once, deterministic Piper, small limits."""
    root = tmp_path_factory.mktemp("voice-server")
    tmp_dir = root / "tmp"
    tmp_dir.mkdir()
    port = free_port()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("VOICE_")},
        "HOME": str(root),
        "XDG_CACHE_HOME": str(root / "cache"),
        "TMPDIR": str(tmp_dir),  # the bad-input tests check nothing is left here
        "VOICE_SERVER__PORT": str(port),
        "VOICE_LOG__FORMAT": "json",
        "VOICE_AUTH__SERVICE_TOKEN": SERVICE_TOKEN,
        "VOICE_TTS__NOISE_SCALE": "0",
        "VOICE_TTS__NOISE_W_SCALE": "0",
        "VOICE_LIMITS__MAX_BODY_BYTES": str(3 * 1024 * 1024),
        "VOICE_LIMITS__MAX_AUDIO_SECONDS": "30",
        "VOICE_LIMITS__MAX_TEXT_CHARS": "2000",
        "VOICE_LIMITS__MAX_QUEUED_JOBS": "0",
    }
    log_path = root / "voice.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "voice"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(url, process, log_path)
        yield Server(url, process, tmp_dir, log_path, startup_tmp_files=set(tmp_dir.iterdir()))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Poll the server's own state (its gauges) until `condition` holds (no fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    pytest.fail(f"the server did not {what} within {timeout_s} s")


def _wait_until_ready(url: str, process: "subprocess.Popen[bytes]", log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the voice service exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling the probe is what an orchestrator does too
    raise TimeoutError(f"the voice service was not ready after {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()}")
