"""Prometheus metrics of one app instance (its own registry, so several apps in one process do not collide)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4


class Metrics:
    content_type = CONTENT_TYPE_PLAIN_0_0_4

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.engine_calls = Counter(
            "voice_engine_calls", "Engine calls by engine and outcome.", ["engine", "outcome"], registry=self.registry
        )
        self.engine_seconds = Histogram(
            "voice_engine_processing_seconds",
            "Time engines spent processing.",
            ["engine"],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        )
        self.audio_seconds = Counter(
            "voice_engine_audio_seconds",
            "Seconds of audio engines heard or produced.",
            ["engine"],
            registry=self.registry,
        )
        self.queued_jobs = Gauge(
            "voice_engine_queued_jobs", "Jobs waiting for an engine.", ["engine"], registry=self.registry
        )
        self.running_jobs = Gauge(
            "voice_engine_running_jobs", "Jobs running on an engine.", ["engine"], registry=self.registry
        )
        self.rejected_jobs = Counter(
            "voice_engine_rejected_jobs", "Jobs refused because the queue was full.", ["engine"], registry=self.registry
        )
        self.synthesis_in_progress = Gauge(
            "voice_synthesis_in_progress", "Streamed syntheses not yet finished.", ["engine"], registry=self.registry
        )
        self.synthesized_pieces = Counter(
            "voice_synthesized_pieces",
            "Sentences or clauses synthesized by streamed speech (each leaves as soon as it is made).",
            ["engine"],
            registry=self.registry,
        )
        self.engine_ready = Gauge(
            "voice_engine_ready", "1 when an engine is loaded and warmed.", ["engine"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
