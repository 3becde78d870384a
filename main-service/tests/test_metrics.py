"""The HTTP metrics middleware keeps its label sets bounded, whatever methods a client invents."""

import httpx
import pytest

from council.observability.metrics import method_label

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("method", "label"),
    [("GET", "GET"), ("PATCH", "PATCH"), ("OPTIONS", "OPTIONS"), ("get", "other"), ("PROPFIND", "other")],
)
def test_standard_methods_keep_their_label_and_the_rest_are_other(method: str, label: str) -> None:
    assert method_label(method) == label


async def test_invented_methods_are_counted_as_other(client: httpx.AsyncClient) -> None:
    # A fuzzer sending a new method per request would otherwise add a time series per request.
    for n in range(5):
        await client.request(f"FUZZ{n}", "/health/live")
    await client.get("/health/live")

    text = (await client.get("/metrics")).text
    other = [line for line in text.splitlines() if line.startswith('council_http_requests_total{method="other"')]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in other) == 5.0
    assert "FUZZ" not in text
    assert 'council_http_requests_total{method="GET",route="/health/live",status="200"} 1.0' in text
