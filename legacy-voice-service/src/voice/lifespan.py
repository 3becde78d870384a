"""Resources built from settings at startup, handed to requests as lifespan state, closed at shutdown."""

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypedDict

import anyio
import structlog
from fastapi import FastAPI

from voice.engines.registry import EngineRegistry
from voice.observability.metrics import Metrics
from voice.settings import Settings

log = structlog.get_logger(__name__)


class State(TypedDict):
    settings: Settings
    engines: EngineRegistry
    metrics: Metrics
    engines_loaded: anyio.Event
    realtime_sessions: anyio.CapacityLimiter


def build_lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[State]]:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        metrics = Metrics()
        engines = EngineRegistry(settings, metrics)
        loaded = anyio.Event()

        async def load() -> None:
            # In the background: liveness answers at once, readiness turns `pass` once every engine is warm.
            await engines.load_all()
            loaded.set()
            log.info("engines_loaded", engines={e.name: e.state.value for e in engines.all()})

        log.info("voice_service_started")
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(load)
            try:
                yield {
                    "settings": settings,
                    "engines": engines,
                    "metrics": metrics,
                    "engines_loaded": loaded,
                    "realtime_sessions": anyio.CapacityLimiter(settings.limits.max_realtime_sessions),
                }
            finally:
                tasks.cancel_scope.cancel()
                log.info("voice_service_stopped")

    return lifespan
