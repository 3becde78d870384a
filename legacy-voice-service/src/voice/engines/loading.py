"""An engine's lifecycle (load once, warm up, report readiness) and its bounded job queue with timing and logs."""

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Generic, TypeVar

import anyio
import anyio.to_thread
import structlog

from voice.engines.base import Engine
from voice.errors import EngineBusy, EngineUnavailable
from voice.health import Check, HealthStatus
from voice.observability.metrics import Metrics

log = structlog.get_logger(__name__)

E = TypeVar("E", bound=Engine)
T = TypeVar("T")


class EngineState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    UNAVAILABLE = "unavailable"


class JobQueue:
    """At most `concurrency` jobs run and `max_queued` wait; one more is refused at once with 429."""

    def __init__(self, name: str, concurrency: int, max_queued: int, retry_after: int, metrics: Metrics) -> None:
        self.name = name
        self._capacity = concurrency + max_queued
        self._semaphore = anyio.Semaphore(concurrency)
        self._retry_after = retry_after
        self._metrics = metrics
        self.waiting = 0
        self.running = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.waiting + self.running >= self._capacity:
            self._metrics.rejected_jobs.labels(self.name).inc()
            raise EngineBusy(
                f"The {self.name} engine is busy ({self.running} running, {self.waiting} queued); retry shortly.",
                headers={"Retry-After": str(self._retry_after)},
            )
        self.waiting += 1
        self._metrics.queued_jobs.labels(self.name).set(self.waiting)
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
            self._metrics.queued_jobs.labels(self.name).set(self.waiting)
        self.running += 1
        self._metrics.running_jobs.labels(self.name).set(self.running)
        try:
            yield
        finally:
            self.running -= 1
            self._metrics.running_jobs.labels(self.name).set(self.running)
            self._semaphore.release()


class Job:
    """One request's use of an engine: blocking calls run in a worker thread and their time is added up."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.processing_seconds = 0.0
        self.audio_seconds = 0.0
        self.completed: bool | None = None  # a stream sets this: False when the client left before the end

    async def call(self, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return await anyio.to_thread.run_sync(fn)
        finally:
            self.processing_seconds += time.perf_counter() - started


class LoadedEngine(Generic[E]):
    """An engine with its state: loaded and warmed once at startup, then shared by requests through its queue."""

    def __init__(
        self, engine: E, *, default: bool, queue: JobQueue, metrics: Metrics, critical: bool | None = None
    ) -> None:
        self.engine = engine
        self.default = default
        # Whether readiness fails while it cannot serve (a default engine always holds readiness back while loading).
        self.critical = default if critical is None else critical
        self.queue = queue
        self.state = EngineState.LOADING
        self.reason = "loading and warming up"
        self.load_seconds: float | None = None
        self._metrics = metrics

    @property
    def name(self) -> str:
        return self.engine.name

    def load(self) -> None:
        """Blocking: load and warm the engine, recording why it cannot run if it cannot."""
        started = time.perf_counter()
        log.info("engine_loading", engine=self.name, kind=self.engine.kind, model=self.engine.model_id)
        try:
            self.engine.load()
            self.engine.warm_up()
        except EngineUnavailable as error:
            self._unavailable(error.message)
            return
        except Exception as error:  # an engine's own failure must not stop the others from serving
            log.exception("engine_load_failed", engine=self.name)
            self._unavailable(f"{type(error).__name__}: {error}")
            return
        self.load_seconds = round(time.perf_counter() - started, 3)
        self.state = EngineState.READY
        self.reason = ""
        self._metrics.engine_ready.labels(self.name).set(1)
        log.info("engine_ready", engine=self.name, model=self.engine.model_id, load_seconds=self.load_seconds)

    def _unavailable(self, reason: str) -> None:
        self.state = EngineState.UNAVAILABLE
        self.reason = reason
        log_method = log.error if self.critical else log.warning
        log_method("engine_unavailable", engine=self.name, model=self.engine.model_id, reason=reason)

    def require_ready(self) -> E:
        if self.state is EngineState.READY:
            return self.engine
        if self.state is EngineState.LOADING:
            raise EngineUnavailable(
                f"The {self.name} engine is still loading; retry shortly.", headers={"Retry-After": "2"}
            )
        raise EngineUnavailable(f"The {self.name} engine is unavailable: {self.reason}")

    @asynccontextmanager
    async def job(self, **context: object) -> AsyncIterator[Job]:
        """Queue for the engine, then yield a `Job`; its call is logged and measured when it ends."""
        self.require_ready()
        async with self.queue.slot():
            job = Job(self.name)
            outcome = "error"
            try:
                yield job
                outcome = "ok" if job.completed is not False else "interrupted"
            finally:
                self._metrics.engine_calls.labels(self.name, outcome).inc()
                self._metrics.engine_seconds.labels(self.name).observe(job.processing_seconds)
                self._metrics.audio_seconds.labels(self.name).inc(job.audio_seconds)
                log.info(
                    "engine_call",
                    engine=self.name,
                    model=self.engine.model_id,
                    outcome=outcome,
                    audio_seconds=round(job.audio_seconds, 3),
                    processing_seconds=round(job.processing_seconds, 3),
                    **context,
                )

    def check(self) -> Check:
        status = {
            EngineState.READY: HealthStatus.PASS,
            EngineState.LOADING: HealthStatus.FAIL if self.default else HealthStatus.WARN,
            EngineState.UNAVAILABLE: HealthStatus.FAIL if self.critical else HealthStatus.WARN,
        }[self.state]
        observed: dict[str, object] = {"componentId": self.engine.model_id, "engine_state": self.state.value}
        if self.load_seconds is not None:
            observed["load_seconds"] = self.load_seconds
        return Check(
            name=f"{self.engine.kind}:{self.name}",
            status=status,
            output=self.reason,
            component_type="engine",
            # A default engine holds readiness back while it loads, even one the service can do without later.
            critical=self.critical or (self.default and self.state is EngineState.LOADING),
            observed=observed,
        )
