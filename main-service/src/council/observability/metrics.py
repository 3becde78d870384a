"""Prometheus metrics of the main service, in a registry per app (so tests and replicas never share state)."""

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from council.turns import TurnOutcome

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# The server passes any token as a method; a fuzzer's inventions all count as "other", so the label set stays small.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})


def method_label(method: str) -> str:
    return method if method in _METHODS else "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "council_http_requests", "HTTP requests by route template and status.",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.http_latency = Histogram(
            "council_http_request_duration_seconds", "HTTP request latency by route template.",
            ["method", "route"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.websocket_sessions = Gauge(
            "council_websocket_sessions", "Open WebSocket sessions by endpoint.", ["endpoint"], registry=self.registry
        )
        self.llm_call_latency = Histogram(
            "council_llm_call_duration_seconds", "Latency of one model call by council role.",
            ["role"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.council_turn_latency = Histogram(
            "council_turn_duration_seconds", "Wall time of a whole turn by path (fast, council, kip).",
            ["path"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.voice_preemptive_answers = Counter(
            "council_voice_preemptive_answers", "Answers started at a pause before the turn was confirmed, by "
            "outcome: used (the turn ended with those words) or wasted (it did not).",
            ["outcome"], registry=self.registry,
        )  # fmt: skip
        self.voice_breaker_open = Gauge(
            "council_voice_breaker_open", "1 while the circuit breaker to the voice service is open.",
            registry=self.registry,
        )  # fmt: skip

    def watch_voice_breaker(self, is_open: Callable[[], bool]) -> None:
        self.voice_breaker_open.set_function(lambda: float(is_open()))


class HttpMetricsMiddleware:
    """Counts and times requests by route template (not raw path) and known method: bounded label cardinality."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = method_label(scope["method"])
            self.metrics.http_requests.labels(method, template, str(status)).inc()
            self.metrics.http_latency.labels(method, template).observe(time.perf_counter() - started)


class TurnMetrics:
    """A turn observer (see `orchestrator.context.TurnObserver`) that times turns and model calls."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def turn_completed(self, final: TurnOutcome, message: str) -> None:
        self.metrics.council_turn_latency.labels(final.path).observe(final.total_ms / 1000)
        for call in final.calls:
            self.metrics.llm_call_latency.labels(call.role).observe(call.latency_ms / 1000)
