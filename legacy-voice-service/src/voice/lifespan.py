"""Resources built from settings at startup, handed to requests as lifespan state, closed at shutdown."""

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypedDict

import structlog
from fastapi import FastAPI

from voice.settings import Settings

log = structlog.get_logger(__name__)


class State(TypedDict):
    settings: Settings


def build_lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[State]]:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        log.info("voice_service_started")
        try:
            yield {"settings": settings}
        finally:
            log.info("voice_service_stopped")

    return lifespan
