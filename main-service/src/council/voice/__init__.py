"""The main service's client of the voice service: pooled HTTP, retries, circuit breaker, readiness watcher."""

from council.voice.breaker import BreakerState, CircuitBreaker
from council.voice.client import VoiceClient, VoiceStatus

__all__ = ["BreakerState", "CircuitBreaker", "VoiceClient", "VoiceStatus"]
