"""Both services as real processes: probes, readiness through the main service, and a voice outage."""

import signal
import time

import httpx
import pytest

from conftest import ServiceProcess, StartService


@pytest.mark.parametrize("service_name", ["voice", "main"])
@pytest.mark.parametrize("probe", ["live", "ready"])
def test_probes_pass_in_health_json(service_name: str, probe: str, request: pytest.FixtureRequest) -> None:
    service: ServiceProcess = request.getfixturevalue(service_name)

    response = httpx.get(f"{service.url}/health/{probe}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    assert response.json()["status"] == "pass"


def test_main_readiness_includes_voice_as_a_non_critical_check(main: ServiceProcess) -> None:
    (voice_check,) = httpx.get(f"{main.url}/health/ready").json()["checks"]["voice:ready"]
    assert voice_check["status"] == "pass"
    assert voice_check["breaker"] == "closed"


def test_request_id_and_trace_reach_the_voice_service(main: ServiceProcess, voice: ServiceProcess) -> None:
    response = httpx.get(f"{main.url}/health/ready", headers={"X-Request-ID": "e2e-correlation-1"})

    assert response.headers["x-request-id"] == "e2e-correlation-1"
    main_lines = [line for line in main.log_lines() if line.get("request_id") == "e2e-correlation-1"]
    voice_lines = [line for line in voice.log_lines() if line.get("request_id") == "e2e-correlation-1"]
    assert any(line["event"] == "request" for line in main_lines)
    assert any(line["event"] == "request" and line["path"] == "/health/ready" for line in voice_lines)
    # The voice service continued the main service's W3C trace (traceparent), not a trace of its own.
    assert {line["trace_id"] for line in voice_lines} == {main_lines[0]["trace_id"]}


def _poll_main_until(main: ServiceProcess, status: str, timeout_s: float) -> tuple[dict[str, object], float]:
    started = time.monotonic()
    while True:
        body = httpx.get(f"{main.url}/health/ready", timeout=5).json()
        elapsed = time.monotonic() - started
        if body["status"] == status or elapsed > timeout_s:
            return body, elapsed
        time.sleep(0.1)


def test_voice_outage_makes_main_warn_then_main_recovers_on_its_own(
    start_voice: StartService, start_main: StartService
) -> None:
    voice = start_voice()
    main = start_main(voice, COUNCIL_VOICE__WATCH_INTERVAL_S="0.5", COUNCIL_VOICE__BREAKER_FAILURE_THRESHOLD="2")

    voice.stop(signal.SIGKILL)
    body, _ = _poll_main_until(main, "warn", timeout_s=5)

    assert body["status"] == "warn", f"not warn within 5 s of the kill: {body}"
    breaker_open, _ = _poll_main_until_breaker(main, "open", timeout_s=5)
    assert breaker_open

    # While voice is away: text chat works, voice calls fail fast with a clear 503.
    chat = httpx.post(f"{main.url}/api/chat", json={"message": "/fast Still there?"}, timeout=60)
    assert chat.status_code == 200, chat.text
    speak = httpx.post(f"{main.url}/api/voice/speak", json={"input": "Hello"}, timeout=10)
    assert speak.status_code == 503
    assert speak.json()["error"]["code"] == "voice_unavailable"
    assert "Retry-After" in speak.headers
    # The open breaker answered without trying the network: a tried call says "could not be reached".
    assert "is unavailable" in speak.json()["error"]["message"], speak.json()

    start_voice(port=voice.port)
    body, _ = _poll_main_until(main, "pass", timeout_s=10)
    assert body["status"] == "pass", body
    assert body["checks"]["voice:ready"][0]["breaker"] == "closed"  # type: ignore[index]
    assert httpx.post(f"{main.url}/api/voice/speak", json={"input": "Hello"}, timeout=60).status_code == 200


def test_a_paused_voice_service_times_out_as_configured_instead_of_hanging(
    start_voice: StartService, start_main: StartService
) -> None:
    voice = start_voice()
    main = start_main(
        voice,
        COUNCIL_VOICE__READ_TIMEOUT_S="1.5",
        COUNCIL_VOICE__RETRY_ATTEMPTS="1",
        COUNCIL_VOICE__WATCH_INTERVAL_S="60",
    )
    assert voice.process is not None
    voice.process.send_signal(signal.SIGSTOP)  # a real process that accepts connections but never answers
    try:
        started = time.monotonic()
        response = httpx.post(f"{main.url}/api/voice/speak", json={"input": "Hello"}, timeout=30)
        elapsed = time.monotonic() - started
        ready = httpx.get(f"{main.url}/health/ready", timeout=30)
    finally:
        voice.process.send_signal(signal.SIGCONT)

    assert response.status_code == 503, response.text
    assert "ReadTimeout" in response.json()["error"]["message"]
    assert 1.5 <= elapsed < 5
    assert ready.json()["status"] == "warn"  # the probe gives up after COUNCIL_VOICE__PROBE_TIMEOUT_S


def _poll_main_until_breaker(main: ServiceProcess, state: str, timeout_s: float) -> tuple[bool, float]:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        check = httpx.get(f"{main.url}/health/ready", timeout=5).json()["checks"]["voice:ready"][0]
        if check["breaker"] == state:
            return True, time.monotonic() - started
        time.sleep(0.1)
    return False, timeout_s
