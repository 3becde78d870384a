"""Security headers on every response; CORS answers only the allow-listed origins."""

import httpx
import pytest
from asgi_lifespan import LifespanManager

from council.app import create_app
from council.settings import Settings

pytestmark = pytest.mark.anyio


async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/health/live"), await client.get("/no/such/route")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_cors_allows_listed_origins_only(settings: Settings) -> None:
    settings.security.cors_allow_origins = ["https://app.example"]
    async with LifespanManager(create_app(settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            preflight = {"Access-Control-Request-Method": "POST"}
            allowed = await client.options("/health/live", headers={"Origin": "https://app.example", **preflight})
            refused = await client.options("/health/live", headers={"Origin": "https://evil.example", **preflight})
            simple = await client.get("/health/live", headers={"Origin": "https://evil.example"})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in simple.headers
