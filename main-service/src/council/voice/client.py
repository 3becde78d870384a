"""One pooled `httpx.AsyncClient` to the voice service, guarded by retries (idempotent calls only) and a breaker."""

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import stamina
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from council.errors import VoiceFailedError, VoiceUnavailableError
from council.health import Check, HealthStatus
from council.observability.correlation import REQUEST_ID_HEADER, current_request_id, outgoing_traceparent
from council.settings import VoiceClientSettings
from council.voice.breaker import CircuitBreaker

log = structlog.get_logger(__name__)

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRYABLE_STATUS = frozenset({502, 503, 504})
_REALTIME_MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # a long sentence's audio, base64, in one event


class _RetryableStatusError(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"voice service answered {response.status_code}")
        self.response = response


@dataclass(frozen=True)
class VoiceStatus:
    """What the last readiness probe of the voice service found."""

    status: HealthStatus
    detail: str
    latency_ms: float | None


class VoiceClient:
    def __init__(self, settings: VoiceClientSettings) -> None:
        self.settings = settings
        self.breaker = CircuitBreaker(settings.breaker_failure_threshold)
        headers = {"User-Agent": "hybrid-council-main"}
        if settings.service_token is not None:
            headers["Authorization"] = f"Bearer {settings.service_token.get_secret_value()}"
        self._headers = headers
        self._http = httpx.AsyncClient(
            base_url=str(settings.base_url),
            headers=headers,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_s,
                read=settings.read_timeout_s,
                write=settings.read_timeout_s,
                pool=settings.connect_timeout_s,
            ),
            limits=httpx.Limits(
                max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections
            ),
        )
        self.last_status = VoiceStatus(HealthStatus.WARN, "not probed yet", None)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _refuse_if_open(self) -> None:
        if self.breaker.is_open:
            raise VoiceUnavailableError(
                f"The voice service is unavailable ({self.breaker.last_error}); text chat still works.",
                headers={"Retry-After": str(max(1, round(self.settings.watch_interval_s)))},
            )

    @staticmethod
    def _correlation_headers(request_id: str | None = None) -> dict[str, str]:
        return {
            REQUEST_ID_HEADER: request_id or current_request_id() or f"main-{uuid.uuid4().hex}",
            "traceparent": outgoing_traceparent(),
        }

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the voice service; fails fast with 503 while the breaker is open."""
        self._refuse_if_open()
        headers = {**self._correlation_headers(), **kwargs.pop("headers", {})}
        attempts = self.settings.retry_attempts if method.upper() in _IDEMPOTENT else 1
        try:
            async for attempt in stamina.retry_context(
                on=(httpx.TransportError, _RetryableStatusError), attempts=attempts, wait_initial=0.05, wait_max=1.0
            ):
                with attempt:
                    response = await self._http.request(method, path, headers=headers, **kwargs)
                    if response.status_code in _RETRYABLE_STATUS:
                        raise _RetryableStatusError(response)
        except _RetryableStatusError as exc:
            self.breaker.record_failure(str(exc))
            return exc.response
        except httpx.TransportError as exc:
            self.breaker.record_failure(_describe(exc))
            raise VoiceUnavailableError(f"The voice service could not be reached: {_describe(exc)}.") from exc
        self.breaker.record_success()
        return response

    async def open_stream(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A non-retried call whose body the caller streams (and must `aclose`); fails fast while the breaker is open."""
        self._refuse_if_open()
        headers = {**self._correlation_headers(), **kwargs.pop("headers", {})}
        request = self._http.build_request(method, path, headers=headers, **kwargs)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            self.breaker.record_failure(_describe(exc))
            raise VoiceUnavailableError(f"The voice service could not be reached: {_describe(exc)}.") from exc
        if response.status_code >= 500:
            self.breaker.record_failure(f"voice service answered {response.status_code}")
        else:
            self.breaker.record_success()
        return response

    async def open_realtime(self, path: str = "/v1/realtime", **params: str) -> ClientConnection:
        """A live socket to one of the voice service's real-time routes (`WS /v1/realtime` listens,
        `WS /v1/realtime/speech` speaks; query `params`), with the service token, request ID
        and traceparent on the handshake. Fails fast while the breaker is open; an unreachable service or a server
        error counts against the breaker, a busy one (429) does not."""
        self._refuse_if_open()
        url = httpx.URL(str(self.settings.base_url)).join(path).copy_merge_params(params)
        url = url.copy_with(scheme="wss" if url.scheme == "https" else "ws")
        try:
            socket = await connect(
                str(url),
                additional_headers={**self._headers, **self._correlation_headers()},
                open_timeout=self.settings.connect_timeout_s,
                max_size=_REALTIME_MAX_MESSAGE_BYTES,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            message = _error_message(exc.response.body, status)
            if status == 429:
                raise VoiceUnavailableError(f"The voice service is busy: {message}") from exc
            if status >= 500:
                self.breaker.record_failure(f"voice service answered {status}")
            raise VoiceFailedError(f"The voice service refused the real-time socket ({status}): {message}") from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            self.breaker.record_failure(_describe(exc))
            raise VoiceUnavailableError(f"The voice service could not be reached: {_describe(exc)}.") from exc
        self.breaker.record_success()
        return socket

    async def probe_ready(self, request_id: str | None = None) -> VoiceStatus:
        """One readiness probe, never retried; its success is what closes an open breaker."""
        started = time.perf_counter()
        try:
            response = await self._http.get(
                "/health/ready",
                headers=self._correlation_headers(request_id),
                timeout=self.settings.probe_timeout_s,
            )
        except httpx.HTTPError as exc:
            return self._probe_failed(_describe(exc), f"unreachable: {_describe(exc)}")
        try:
            status = _reported_status(response)
        except ValueError as exc:  # anything but a health+json object: a failed probe, whatever answered
            invalid = f"invalid readiness answer ({response.status_code}): {exc}"
            return self._probe_failed(invalid, invalid)
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        if status is HealthStatus.FAIL:
            self.breaker.record_failure("voice service reports itself not ready")
        else:
            self.breaker.close()
        self.last_status = VoiceStatus(status, f"voice service reports {status.value}", latency_ms)
        return self.last_status

    def _probe_failed(self, error: str, detail: str) -> VoiceStatus:
        self.breaker.record_failure(error)
        self.last_status = VoiceStatus(HealthStatus.FAIL, detail, None)
        return self.last_status

    async def readiness_check(self) -> Check:
        """Main's readiness entry for voice: a live probe, or the breaker's verdict while it is open."""
        if self.breaker.is_open:
            return Check(
                "voice:ready",
                HealthStatus.WARN,
                f"circuit breaker open: {self.breaker.last_error}",
                critical=False,
                observed={"breaker": self.breaker.state.value},
            )
        result = await self.probe_ready()
        observed: dict[str, Any] = {"breaker": self.breaker.state.value}
        if result.latency_ms is not None:
            observed.update(observedValue=result.latency_ms, observedUnit="ms")
        return Check("voice:ready", result.status, result.detail, critical=False, observed=observed)

    async def watch(self) -> None:
        """Background readiness watcher: keeps breaker and status fresh even when no caller asks."""
        while True:
            previous = self.last_status.status
            request_id = f"watch-{uuid.uuid4().hex[:12]}"
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                try:
                    current = await self.probe_ready(request_id)
                except Exception:  # a bug here must not end the watcher: it is what closes an open breaker
                    log.exception("voice_watch_failed")
                else:
                    if current.status is not previous:
                        log.info(
                            "voice_status_changed",
                            previous=previous.value,
                            current=current.status.value,
                            detail=current.detail,
                        )
            await asyncio.sleep(self.settings.watch_interval_s)


def _reported_status(response: httpx.Response) -> HealthStatus:
    """The `status` of a health+json body; ValueError when the body is not a JSON object with a known status."""
    body = response.json()  # ValueError (JSONDecodeError) when it is not JSON at all
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return HealthStatus(body.get("status", "fail"))  # ValueError for an unknown status


def _error_message(body: bytes | bytearray | None, status: int) -> str:
    """The message of the voice service's JSON error envelope, or what can be said without one."""
    try:
        message: str = json.loads(body or b"")["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {status}"
    return message


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
