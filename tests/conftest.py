"""Cross-service fixtures: both services started as real uvicorn processes on free ports, their JSON logs kept."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from servicekit import ROOT, ServiceProcess, main_process, voice_process

__all__ = ["ROOT", "ServiceProcess", "StartService"]

StartService = Callable[..., ServiceProcess]


@pytest.fixture
def start_voice(tmp_path: Path) -> Iterator[StartService]:
    started: list[ServiceProcess] = []

    def start(port: int | None = None, **settings: str) -> ServiceProcess:
        # DEBUG so that health-probe access lines (debug when they succeed) are in the log to inspect.
        service = voice_process(tmp_path / "voice.log", port, VOICE_LOG__LEVEL="DEBUG", **settings)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def start_main(tmp_path: Path) -> Iterator[StartService]:
    started: list[ServiceProcess] = []

    def start(voice: ServiceProcess | int, **settings: str) -> ServiceProcess:
        voice_port = voice if isinstance(voice, int) else voice.port
        service = main_process(tmp_path / "main.log", voice_port, COUNCIL_LOG__LEVEL="DEBUG", **settings)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="module")
def start_main_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartService]:
    """Like `start_main`, for services a whole module shares (e.g. one the fuzz tests configure)."""
    started: list[ServiceProcess] = []

    def start(voice: ServiceProcess | int, **settings: str) -> ServiceProcess:
        voice_port = voice if isinstance(voice, int) else voice.port
        log_path = tmp_path_factory.mktemp("module") / "main.log"
        service = main_process(log_path, voice_port, COUNCIL_LOG__LEVEL="DEBUG", **settings)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One voice service shared by the tests that only read from it (outage tests start their own)."""
    # Piper without generator noise speaks the same text the same way, so speech-driven tests are repeatable.
    service = voice_process(
        tmp_path_factory.mktemp("shared") / "voice.log",
        VOICE_LOG__LEVEL="DEBUG",
        VOICE_TTS__NOISE_SCALE="0",
        VOICE_TTS__NOISE_W_SCALE="0",
    ).start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def main(tmp_path_factory: pytest.TempPathFactory, voice: ServiceProcess) -> Iterator[ServiceProcess]:
    """One main service, talking to the shared voice service."""
    log_path = tmp_path_factory.mktemp("shared") / "main.log"
    service = main_process(log_path, voice.port, COUNCIL_LOG__LEVEL="DEBUG", COUNCIL_LLM__MAX_TOKENS="24").start()
    yield service
    service.stop()
