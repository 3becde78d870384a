"""The two services' twin modules (correlation, errors, health, body limits) kept honest without sharing code: the
same request gets the same contract from both, over real HTTP.

They are deliberately separate code (the services deploy and upgrade apart); these tests are what stops them from
drifting apart: a change to one side's envelope, request-ID rule, trace handling or health shape fails here."""

import json
import secrets
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import ServiceProcess, StartService

SERVICES = ["main", "voice"]


def both(request: pytest.FixtureRequest) -> list[ServiceProcess]:
    return [request.getfixturevalue(name) for name in SERVICES]


def envelope_shape(response: httpx.Response) -> dict[str, Any]:
    """What the error envelope looks like, without the values that differ by nature (message text, IDs)."""
    body = response.json()
    return {
        "top": sorted(body),
        "error": sorted(body["error"]),
        "content_type": response.headers["content-type"],
        "request_id_matches_header": body["error"]["request_id"] == response.headers["x-request-id"],
    }


def test_an_unknown_route_gets_the_same_error_envelope_from_both(request: pytest.FixtureRequest) -> None:
    main, voice = both(request)
    answers = [httpx.get(f"{service.url}/no/such/route") for service in (main, voice)]
    assert [answer.status_code for answer in answers] == [404, 404]
    assert [answer.json()["error"]["code"] for answer in answers] == ["not_found", "not_found"]
    assert envelope_shape(answers[0]) == envelope_shape(answers[1])
    assert envelope_shape(answers[0])["request_id_matches_header"]


def test_a_wrong_method_gets_405_in_the_same_envelope_from_both(request: pytest.FixtureRequest) -> None:
    main, voice = both(request)
    answers = [httpx.delete(f"{service.url}/health/live") for service in (main, voice)]
    assert [answer.status_code for answer in answers] == [405, 405]
    assert answers[0].json()["error"]["code"] == answers[1].json()["error"]["code"]
    assert envelope_shape(answers[0]) == envelope_shape(answers[1])


def test_a_body_that_fails_validation_gets_the_same_code_and_envelope_from_both(request: pytest.FixtureRequest) -> None:
    main, voice = both(request)
    # Well-formed JSON of the wrong shape: a number where each route wants an object with a string.
    answers = [
        httpx.post(f"{main.url}/api/chat", json={"message": 42}),
        httpx.post(f"{voice.url}/v1/audio/speech", json={"input": 42, "voice": "en_US-joe-medium"}),
    ]
    assert [answer.status_code for answer in answers] == [422, 422], [answer.text for answer in answers]
    assert answers[0].json()["error"]["code"] == answers[1].json()["error"]["code"]
    assert envelope_shape(answers[0]) == envelope_shape(answers[1])


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("twin-check.1:ok", True),  # a sane token is the caller's to keep
        ("x" * 128, True),
        ("x" * 129, False),  # too long: replaced
        ("bad id with spaces", False),
        ("inject\u00e9", False),  # not ASCII: replaced, never echoed into logs
    ],
)
def test_both_accept_or_replace_a_request_id_by_the_same_rule(
    sent: str, echoed: bool, request: pytest.FixtureRequest
) -> None:
    for service in both(request):
        response = httpx.get(f"{service.url}/health/live", headers={"X-Request-ID": sent.encode()})
        returned = response.headers["x-request-id"]
        assert (returned == sent) is echoed, (service.name, returned)
        if not echoed:
            assert len(returned) == 32
            int(returned, 16)  # a fresh hex ID


def test_both_continue_a_callers_w3c_trace_and_start_one_for_a_bad_traceparent(request: pytest.FixtureRequest) -> None:
    trace_id = secrets.token_hex(16)
    for service in both(request):
        continued = f"twin-trace-{secrets.token_hex(8)}"
        # A 404 is logged at info level (passing health probes only at debug), with the request's trace.
        httpx.get(
            f"{service.url}/twin/trace",
            headers={"X-Request-ID": continued, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
        )
        restarted = f"twin-trace-bad-{secrets.token_hex(8)}"
        httpx.get(f"{service.url}/twin/trace", headers={"X-Request-ID": restarted, "traceparent": "00-zz-bad-01"})
        assert traces_logged(service, continued) == {trace_id}
        (fresh,) = traces_logged(service, restarted)
        assert fresh != trace_id
        assert len(fresh) == 32


def traces_logged(service: ServiceProcess, request_id: str) -> set[str]:
    """The trace IDs of a request's log lines (the access line is written as the response goes out: poll briefly)."""
    deadline = time.monotonic() + 10
    while True:
        traces = {line["trace_id"] for line in service.log_lines() if line.get("request_id") == request_id}
        if traces or time.monotonic() > deadline:
            return traces
        time.sleep(0.05)


def test_a_refused_websocket_handshake_echoes_the_request_id_in_the_same_envelope_from_both(
    start_voice: StartService, start_main: StartService
) -> None:
    # Each service refuses a handshake without its credential with 401 and the error envelope as the HTTP answer.
    voice = start_voice(VOICE_AUTH__SERVICE_TOKEN="twin-voice-token")
    main = start_main(voice, COUNCIL_VOICE__SERVICE_TOKEN="twin-voice-token", COUNCIL_AUTH__API_KEY="twin-main-key")
    refusals = []
    for service, path in ((main, "/ws/chat"), (voice, "/v1/realtime")):
        sent = f"twin-refused-{path.rsplit('/', 1)[1]}-{secrets.token_hex(4)}"
        with (
            pytest.raises(InvalidStatus) as refused,
            connect(service.url.replace("http", "ws", 1) + path, additional_headers={"X-Request-ID": sent}),
        ):
            pass
        response = refused.value.response
        assert response.status_code == 401, (service.name, response.status_code)
        assert response.headers["x-request-id"] == sent, service.name
        body = json.loads(response.body or b"{}")
        assert body["error"]["request_id"] == sent
        refusals.append((sorted(body), sorted(body["error"]), body["error"]["code"]))
    assert refusals[0] == refusals[1]


def _shape(value: Any) -> Any:
    """A JSON value with its leaves replaced by their types (the health document's structure, not its readings)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


@pytest.mark.parametrize("probe", ["live", "ready"])
def test_both_health_documents_have_the_same_top_level_shape(probe: str, request: pytest.FixtureRequest) -> None:
    main, voice = both(request)
    documents = [httpx.get(f"{service.url}/health/{probe}") for service in (main, voice)]
    assert {document.headers["content-type"] for document in documents} == {"application/health+json"}
    bodies = [document.json() for document in documents]
    assert sorted(bodies[0]) == sorted(bodies[1]), json.dumps(bodies)
    for body in bodies:
        assert body["status"] in ("pass", "warn", "fail")
        # Each check, in either service, is a list of objects with at least a status of the same vocabulary.
        for check in body.get("checks", {}).values():
            assert all(item["status"] in ("pass", "warn", "fail") for item in check)
    assert _shape({k: v for k, v in bodies[0].items() if k != "checks"}) == _shape(
        {k: v for k, v in bodies[1].items() if k != "checks"}
    )
