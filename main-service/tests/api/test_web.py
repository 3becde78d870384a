"""The web UI is served from the package with a strict content security policy."""

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_root_serves_the_ui_page_with_its_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset, media_type in (("/static/app.js", "javascript"), ("/static/style.css", "text/css")):
        response = await client.get(asset)
        assert response.status_code == 200
        assert media_type in response.headers["content-type"]


async def test_missing_asset_is_a_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/nope.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
