"""A circuit breaker that opens after consecutive failures and closes only on a successful readiness probe."""

import time
from enum import StrEnum

import structlog

log = structlog.get_logger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"


class CircuitBreaker:
    """While open, callers fail fast; the readiness watcher's probe is the only traffic, and its success closes it.

    No half-open trial of real requests: a readiness probe is cheaper and says more than a user's request.
    """

    def __init__(self, failure_threshold: int) -> None:
        self.failure_threshold = failure_threshold
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.last_error: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state is BreakerState.OPEN

    def record_success(self) -> None:
        """A successful call keeps a closed breaker closed; it does not close an open one (see `close`)."""
        self.consecutive_failures = 0

    def record_failure(self, error: str) -> None:
        self.consecutive_failures += 1
        self.last_error = error
        if self.state is BreakerState.CLOSED and self.consecutive_failures >= self.failure_threshold:
            self.state = BreakerState.OPEN
            self.opened_at = time.monotonic()
            log.warning("voice_breaker_opened", failures=self.consecutive_failures, last_error=error)

    def close(self) -> None:
        if self.state is BreakerState.OPEN:
            log.info("voice_breaker_closed", open_for_s=round(time.monotonic() - (self.opened_at or 0.0), 3))
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_at = None
