"""Resources built from settings at startup, handed to requests as lifespan state, closed at shutdown."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypedDict

import structlog
from fastapi import FastAPI

from council.settings import Settings
from council.voice import VoiceClient

log = structlog.get_logger(__name__)


class State(TypedDict):
    settings: Settings
    voice: VoiceClient


def build_lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[State]]:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        voice = VoiceClient(settings.voice)
        watcher = asyncio.create_task(voice.watch(), name="voice-readiness-watcher")
        log.info("main_service_started", voice_base_url=str(settings.voice.base_url))
        try:
            yield {"settings": settings, "voice": voice}
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await voice.aclose()
            log.info("main_service_stopped")

    return lifespan
