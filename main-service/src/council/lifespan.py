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
from council.llm.bundled import bundled_model
from council.llm.end_of_turn import WordsEndOfTurn
from council.observability.metrics import Metrics, TurnMetrics
from council.observability.readiness import ReadinessCache
from council.orchestrator import Orchestrator, open_orchestrator
from council.pheromind import Pheromind, open_pheromind
from council.ratelimit import RateLimiter
from council.security import is_loopback
from council.settings import Settings
from council.voice import VoiceClient
from council.voice.clips import SpokenClips
from council.voice.slots import SessionSlots

log = structlog.get_logger(__name__)


class State(TypedDict):
    settings: Settings
    metrics: Metrics
    voice: VoiceClient
    orchestrator: Orchestrator
    kip: Kip
    pheromind: Pheromind
    voice_sessions: SessionSlots
    spoken_clips: SpokenClips
    words: WordsEndOfTurn | None
    rate_limiter: RateLimiter | None
    readiness: ReadinessCache


def build_lifespan(
    settings: Settings, metrics: Metrics, rate_limiter: RateLimiter | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[State]]:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        voice = VoiceClient(settings.voice)
        metrics.watch_voice_breaker(lambda: voice.breaker.is_open)
        watcher = asyncio.create_task(voice.watch(), name="voice-readiness-watcher")
        log.info("main_service_started", voice_base_url=str(settings.voice.base_url), keys=settings.auth.keys_required)
        _say_who_may_use_it(settings)
        words: WordsEndOfTurn | None = None
        try:
            words = await _words_reader(settings)
            async with (
                open_kip(settings.kip) as kip,
                open_pheromind(settings.pheromind) as pheromind,
                open_orchestrator(
                    settings,
                    kip=KipPath(kip.runner),
                    trails=pheromind,
                    cache=pheromind,
                    observers=[TurnMetrics(metrics), recorder := DecisionRecorder(kip.store)],
                    forgetters=[recorder, pheromind],  # what a deleted thread's turns derived goes with it
                    budget=rate_limiter,  # each turn's model calls charged to its client
                ) as orchestrator,
            ):
                yield {
                    "settings": settings,
                    "metrics": metrics,
                    "voice": voice,
                    "orchestrator": orchestrator,
                    "kip": kip,
                    "pheromind": pheromind,
                    "voice_sessions": SessionSlots(
                        settings.voice_ws.max_sessions, settings.voice_ws.max_sessions_per_client
                    ),
                    "spoken_clips": SpokenClips(),
                    "words": words,
                    "rate_limiter": rate_limiter,
                    "readiness": ReadinessCache(),
                }
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await voice.aclose()
            if words is not None:
                words.close()
            if rate_limiter is not None:
                await rate_limiter.aclose()
            log.info("main_service_stopped")

    return lifespan


async def _words_reader(settings: Settings) -> WordsEndOfTurn | None:
    """The bundled chat model, to read pauses' words for the voice service's turn decisions (its thresholds are
    fitted to this model's reading, whichever model answers); None when turned off or it cannot load."""
    if not settings.voice_ws.read_words:
        return None
    try:
        path = await asyncio.to_thread(bundled_model, settings.llm)
        return await asyncio.to_thread(WordsEndOfTurn, path, threads=settings.llm.threads)
    except (OSError, ValueError, RuntimeError) as exc:  # the turn is then decided by the voice service's rules
        log.warning("words_reader_unavailable", error=str(exc))
        return None


def _say_who_may_use_it(settings: Settings) -> None:
    """With no key the service is a single-user local install: fine on loopback, open to anyone elsewhere (where
    `python -m council` serves only when COUNCIL_SECURITY__ALLOW_UNAUTHENTICATED_NETWORK says so)."""
    if settings.auth.keys_required:
        return
    if is_loopback(settings.server.host):
        log.info("single_user_local_install", host=settings.server.host, hint="set COUNCIL_AUTH__* keys to share it")
    else:
        log.warning(
            "no_key_on_a_shared_interface",
            host=settings.server.host,
            hint="anyone who reaches this port may use it as its one user: set COUNCIL_AUTH__API_KEY (and client keys), "
            "or publish the port on the host's loopback only",
        )
