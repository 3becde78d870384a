"""X-Request-ID: a sane one is echoed, a missing or unsafe one is replaced by a new one, errors included."""

from fastapi.testclient import TestClient


def test_a_given_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/health/live", headers={"X-Request-ID": "abc-123.x:y"})
    assert response.headers["X-Request-ID"] == "abc-123.x:y"


def test_a_missing_request_id_is_generated(client: TestClient) -> None:
    first = client.get("/health/live").headers["X-Request-ID"]
    second = client.get("/health/live").headers["X-Request-ID"]
    assert len(first) == 32
    assert first != second


def test_an_unsafe_request_id_is_replaced(client: TestClient) -> None:
    response = client.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(response.headers["X-Request-ID"]) == 32


def test_error_bodies_carry_the_request_id(client: TestClient) -> None:
    response = client.get("/nope", headers={"X-Request-ID": "trace-me"})
    assert response.json()["error"]["request_id"] == "trace-me"
    assert response.headers["X-Request-ID"] == "trace-me"
