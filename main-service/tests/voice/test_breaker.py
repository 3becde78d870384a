"""The circuit breaker opens after consecutive failures and only a readiness success closes it."""

from council.voice import BreakerState, CircuitBreaker


def test_opens_after_threshold_consecutive_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=3)
    breaker.record_failure("refused")
    breaker.record_failure("refused")
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure("refused")
    assert breaker.state is BreakerState.OPEN
    assert breaker.last_error == "refused"


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2)
    breaker.record_failure("timeout")
    breaker.record_success()
    breaker.record_failure("timeout")
    assert breaker.state is BreakerState.CLOSED


def test_a_call_success_does_not_close_an_open_breaker_but_close_does() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    breaker.record_failure("refused")
    breaker.record_success()
    assert breaker.is_open
    breaker.close()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
