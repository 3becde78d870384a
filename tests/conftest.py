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


@pytest.fixture
def voice(start_voice: StartService) -> ServiceProcess:
    return start_voice()


@pytest.fixture
def main(start_main: StartService, voice: ServiceProcess) -> ServiceProcess:
    return start_main(voice)
