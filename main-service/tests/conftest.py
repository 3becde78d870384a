"""Shared fixtures: settings without any `.env`, the app with its lifespan running, an HTTP client to it, and a real
OpenAI-compatible server (llama-cpp-python's own, serving the bundled GGUF)."""

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.types import ASGIApp

from council.app import create_app
from council.llm.embedded import bundled_gguf
from council.settings import Settings
from tests.lifespan import app_started
from tests.processes import free_port, running


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


LLAMA_SERVER_MODEL = "smollm2"
"""The model name the OpenAI-compatible server answers to (its alias for the bundled GGUF)."""


@pytest.fixture(scope="module")
def llama_server_url() -> Iterator[str]:
    """The base URL (with /v1) of llama-cpp-python's OpenAI-compatible server, serving the bundled GGUF."""
    port = free_port()
    args = ["-m", "llama_cpp.server", "--model", str(bundled_gguf()), "--model_alias", LLAMA_SERVER_MODEL]
    args += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--n_threads", "1"]
    with running(args, ready_url=f"http://127.0.0.1:{port}/v1/models"):
        yield f"http://127.0.0.1:{port}/v1"


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released), so connections to it are refused."""
    return free_port()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The voice service is not running in these in-process tests: point at a closed port so every probe fails fast.
    # Conversations go to a per-test directory; the bundled model answers in a few tokens to keep tests quick.
    # Pauses' words are not read (a model context of its own per app, ~0.2 s to load) except where a test says so.
    return Settings(
        _env_file=None,
        voice={"base_url": f"http://127.0.0.1:{closed_port()}", "watch_interval_s": 0.05},
        memory={"data_dir": tmp_path / "memory"},
        kip={"data_dir": tmp_path / "kip"},
        llm={"max_tokens": 8},
        voice_ws={"read_words": False},
    )


@pytest.fixture
async def started_app(settings: Settings) -> AsyncIterator[LifespanManager]:
    """The app with its lifespan running; `started_app.app` hands the lifespan state to every request."""
    async with app_started(create_app(settings)) as manager:
        yield manager


@pytest.fixture
def app(started_app: LifespanManager) -> ASGIApp:
    return started_app.app


@pytest.fixture
def lifespan_state(started_app: LifespanManager) -> dict[str, Any]:
    """What the lifespan built (`kip`, `pheromind`, …): the very objects the `client`'s requests reach."""
    return started_app._state


@pytest.fixture
async def client(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app) as http:
        yield http


@contextlib.asynccontextmanager
async def client_to(
    app: ASGIApp, *, base_url: str = "http://localhost", raise_app_exceptions: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client to `app` with its lifespan running, for a test that configures or extends an app of its own."""
    async with app_started(app) as manager, _client(manager.app, base_url, raise_app_exceptions) as http:
        yield http


def _client(app: ASGIApp, base_url: str = "http://localhost", raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url=base_url)


def app_with_a_bug(settings: Settings) -> FastAPI:
    """The app plus `GET /boom`, a route that raises what no route is meant to, with internals in the message."""
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("internal detail that must not leak")

    return app
