"""Caller mistakes get a 4xx in the one error shape; unexpected failures a 500 in the same shape."""

import httpx
import pytest
from fastapi import APIRouter

from council.app import create_app
from council.settings import Settings
from tests.conftest import app_with_a_bug, client_to

pytestmark = pytest.mark.anyio


def assert_error_shape(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    assert_error_shape(await client.get("/no/such/route"), 404, "not_found")


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    assert_error_shape(await client.delete("/health/live"), 405, "method_not_allowed")


async def test_oversize_declared_body_is_413_before_reading(settings: Settings) -> None:
    settings.limits.max_body_bytes = 2048
    async with client_to(create_app(settings)) as client:
        response = await client.post("/health/live", content=b"x" * 4096)
    assert_error_shape(response, 413, "payload_too_large")
    assert "2048" in response.json()["error"]["message"]


async def test_malformed_json_is_400_and_invalid_fields_422(settings: Settings) -> None:
    app = create_app(settings)
    router = APIRouter()

    @router.post("/echo")
    async def echo(payload: dict[str, int]) -> dict[str, int]:
        return payload

    app.include_router(router)
    async with client_to(app) as client:
        malformed = await client.post("/echo", content=b"{not json", headers={"content-type": "application/json"})
        invalid = await client.post("/echo", json={"a": "not a number"})

    assert_error_shape(malformed, 400, "invalid_json")
    assert_error_shape(invalid, 422, "invalid_request")
    assert "a" in invalid.json()["error"]["message"]


async def test_unexpected_exception_is_a_500_in_the_error_shape(settings: Settings) -> None:
    async with client_to(app_with_a_bug(settings), raise_app_exceptions=False) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})

    assert_error_shape(response, 500, "internal_error")
    assert response.headers["x-request-id"] == "boom-1"
    assert "internal detail" not in response.text
