"""Resources built from settings at startup, handed to requests as lifespan state, closed at shutdown."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypedDict

import structlog
from fastapi import FastAPI

from council.kip import Kip, KipPath, open_kip
from council.kip.decisions import DecisionRecorder
from council.observability.metrics import Metrics, TurnMetrics
from council.orchestrator import Orchestrator, open_orchestrator
from council.pheromind import Pheromind, open_pheromind
from council.ratelimit import RateLimiter
from council.settings import Settings
from council.voice import VoiceClient

log = structlog.get_logger(__name__)


class State(TypedDict):
    settings: Settings
    metrics: Metrics
    voice: VoiceClient
    orchestrator: Orchestrator
    kip: Kip
    pheromind: Pheromind


def build_lifespan(
    settings: Settings, metrics: Metrics, rate_limiter: RateLimiter | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[State]]:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        voice = VoiceClient(settings.voice)
        metrics.watch_voice_breaker(lambda: voice.breaker.is_open)
        watcher = asyncio.create_task(voice.watch(), name="voice-readiness-watcher")
        log.info("main_service_started", voice_base_url=str(settings.voice.base_url))
        try:
            async with (
                open_kip(settings.kip) as kip,
                open_pheromind(settings.pheromind) as pheromind,
                open_orchestrator(
                    settings,
                    kip=KipPath(kip.runner),
                    trails=pheromind,
                    cache=pheromind,
                    observers=[TurnMetrics(metrics), pheromind, DecisionRecorder(kip.store)],
                ) as orchestrator,
            ):
                yield {
                    "settings": settings,
                    "metrics": metrics,
                    "voice": voice,
                    "orchestrator": orchestrator,
                    "kip": kip,
                    "pheromind": pheromind,
                }
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await voice.aclose()
            if rate_limiter is not None:
                await rate_limiter.aclose()
            log.info("main_service_stopped")

    return lifespan
