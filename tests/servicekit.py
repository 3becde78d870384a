"""Start the services as real OS processes on free ports and read their JSON logs (tests and benchmarks)."""

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
MAIN_PYTHON = ROOT / "main-service" / ".venv" / "bin" / "python"
VOICE_PYTHON = ROOT / "legacy-voice-service" / ".venv" / "bin" / "python"
STARTUP_TIMEOUT_S = 180.0  # the voice service loads and warms its models before it is ready


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class ServiceProcess:
    """One service as a real OS process; its stderr (JSON log lines) goes to a file the test can read."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServiceProcess":
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.wait_until_ready()
        return self

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {STARTUP_TIMEOUT_S} s:\n{self.log_path.read_text()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def rss_kib(self) -> int:
        """The process's resident memory now, in KiB (Linux's /proc)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text().splitlines():
            if raw.startswith("{"):
                lines.append(json.loads(raw))
        return lines


def clean_env(**overrides: str) -> dict[str, str]:
    # Start from a clean slate: no developer .env values or settings leak into the processes under test.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("COUNCIL_", "VOICE_"))}
    env.update(overrides)
    return env


def voice_process(log_path: Path, port: int | None = None, **settings: str) -> ServiceProcess:
    port = port or free_port()
    env = clean_env(VOICE_SERVER__PORT=str(port), VOICE_LOG__FORMAT="json", **settings)
    return ServiceProcess("voice service", [str(VOICE_PYTHON), "-m", "voice"], env, port, log_path)


def main_process(log_path: Path, voice_port: int, **settings: str) -> ServiceProcess:
    port = free_port()
    data_dir = str(log_path.parent / "main-data")  # conversations and ledger of this run only
    env = clean_env(
        COUNCIL_SERVER__PORT=str(port),
        COUNCIL_MEMORY__DATA_DIR=data_dir,
        COUNCIL_KIP__DATA_DIR=data_dir,
        COUNCIL_VOICE__BASE_URL=f"http://127.0.0.1:{voice_port}",
        COUNCIL_LOG__FORMAT="json",
        **settings,
    )
    return ServiceProcess("main service", [str(MAIN_PYTHON), "-m", "council"], env, port, log_path)
