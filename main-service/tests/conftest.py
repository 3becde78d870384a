"""Shared fixtures: settings without any `.env`, the app with its lifespan running, an HTTP client to it."""

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp

from council.app import create_app
from council.settings import Settings
from tests.lifespan import app_started


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released), so connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The voice service is not running in these in-process tests: point at a closed port so every probe fails fast.
    # Conversations go to a per-test directory; the bundled model answers in a few tokens to keep tests quick.
    return Settings(
        _env_file=None,
        voice={"base_url": f"http://127.0.0.1:{closed_port()}", "watch_interval_s": 0.05},
        memory={"data_dir": tmp_path / "memory"},
        kip={"data_dir": tmp_path / "kip"},
        llm={"max_tokens": 8},
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[ASGIApp]:
    """The app with its lifespan running; `manager.app` hands the lifespan state to every request."""
    async with app_started(create_app(settings)) as manager:
        yield manager.app


@pytest.fixture
async def client(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http
