"""X-Request-ID is accepted when sane, minted otherwise, echoed, and a W3C traceparent continues the trace."""

import re

import httpx
import pytest

from council.observability.correlation import accept_request_id

pytestmark = pytest.mark.anyio


async def test_given_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "req-42.a:b"})
    assert response.headers["x-request-id"] == "req-42.a:b"


async def test_missing_request_id_is_minted(client: httpx.AsyncClient) -> None:
    first = await client.get("/health/live")
    second = await client.get("/health/live")
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("hostile", ["", "a" * 129, "has space", "new\nline", "<script>"])
def test_unsafe_request_ids_are_replaced(hostile: str) -> None:
    assert accept_request_id(hostile) != hostile
    assert re.fullmatch(r"[0-9a-f]{32}", accept_request_id(hostile))
