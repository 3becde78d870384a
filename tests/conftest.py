"""Cross-service fixtures: both services started as real uvicorn processes on free ports, their JSON logs kept."""

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Playwright, sync_playwright

from servicekit import ROOT, ServiceProcess, main_process, voice_process

__all__ = ["CHROMIUM", "ROOT", "ServiceProcess", "StartService"]

StartService = Callable[..., ServiceProcess]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _stopped_at_teardown(build: StartService) -> Iterator[StartService]:
    """A fixture's `start`: builds a service with `build`, starts it, and stops every one it started at teardown."""
    started: list[ServiceProcess] = []

    def start(*args: Any, **kwargs: Any) -> ServiceProcess:
        service = build(*args, **kwargs)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


def _main_in(log_path: Callable[[], Path]) -> StartService:
    """Builds a main service that talks to `voice` (its process, or a port) and logs to `log_path()`, one per call."""

    def build(voice: ServiceProcess | int, **settings: str) -> ServiceProcess:
        voice_port = voice if isinstance(voice, int) else voice.port
        return main_process(log_path(), voice_port, COUNCIL_LOG__LEVEL="DEBUG", **settings)

    return build


@pytest.fixture
def start_voice(tmp_path: Path) -> Iterator[StartService]:
    def build(port: int | None = None, **settings: str) -> ServiceProcess:
        # DEBUG so that health-probe access lines (debug when they succeed) are in the log to inspect.
        return voice_process(tmp_path / "voice.log", port, VOICE_LOG__LEVEL="DEBUG", **settings)

    yield from _stopped_at_teardown(build)


@pytest.fixture
def start_main(tmp_path: Path) -> Iterator[StartService]:
    yield from _stopped_at_teardown(_main_in(lambda: tmp_path / "main.log"))


@pytest.fixture(scope="module")
def start_main_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartService]:
    """Like `start_main`, for services a whole module shares (e.g. one the fuzz tests configure)."""
    yield from _stopped_at_teardown(_main_in(lambda: tmp_path_factory.mktemp("module") / "main.log"))


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


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright for the browser tests (tests/test_web_ui*.py)."""
    # A missing browser fails rather than skips: a skipped browser suite would look green while proving nothing.
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium (root or sudo needed)")
    # One Playwright per module: its sync API cannot be started twice while the first one is running.
    with sync_playwright() as instance:
        yield instance
