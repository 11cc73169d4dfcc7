"""/docs and /redoc in a real Chromium with every request off the server refused: the explorers
come from the package, so they work with no internet. /docs offers Authorize (bearer) and a
call made through it is authenticated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, Route, expect

from jeeves_control_tower.store.sqlite import SQLiteDatabase
from tests.e2e.test_inbox_browser import browser  # noqa: F401 (the fixture, used by name)
from tests.support.api_server import Api, running_api

pytestmark = pytest.mark.browser


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(SQLiteDatabase(tmp_path / "docs.db"), over_socket=True) as running:
        yield running


async def offline_page(chromium: Browser, api: Api) -> tuple[Page, list[str]]:
    """A page that may only reach the server under test; what else it asked for is listed."""
    page = await chromium.new_page()
    server = urlsplit(api.base_url).netloc
    refused: list[str] = []

    async def only_the_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == server or route.request.url.startswith("data:"):
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_the_server)
    return page, refused


async def test_swagger_ui_works_offline_and_authorizes_with_a_bearer_token(
    api: Api, browser: Browser  # noqa: F811 (the fixture)
) -> None:
    page, refused = await offline_page(browser, api)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 and not r.url.endswith(".map") else None)
    await page.goto(api.base_url + "/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("jeeves control tower")
    await expect(page.get_by_text("/v1/interrupts/{interrupt_id}/respond").first).to_be_visible()

    # Authorize with the admin's token, then "Try it out" on GET /v1/me.
    await page.locator(".auth-wrapper .authorize").click()
    bearer = page.locator(".dialog-ux .auth-container").filter(has_text="bearerAuth")
    await bearer.locator("input").fill(api.secrets["admin"])
    await bearer.get_by_role("button", name="Apply credentials").click()
    await expect(bearer.get_by_role("button", name="Remove authorization")).to_be_visible()
    await page.locator(".dialog-ux button.close-modal").click()
    operation = page.locator("#operations-default-me_v1_me_get, .opblock-get:has-text('/v1/me')").first
    await operation.click()
    await operation.get_by_role("button", name="Try it out").click()
    await operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table tbody .response")
    await expect(live.locator(".response-col_status")).to_contain_text("200")
    await expect(live).to_contain_text('"role": "admin"')
    assert refused == [] and failed == [], (refused, failed)


async def test_redoc_works_offline(api: Api, browser: Browser) -> None:  # noqa: F811 (the fixture)
    page, refused = await offline_page(browser, api)
    await page.goto(api.base_url + "/redoc")
    await expect(page.locator("h1").first).to_contain_text("jeeves control tower")
    await expect(page.get_by_text("/v1/interrupts/{interrupt_id}/respond").first).to_be_attached()
    assert refused == [], refused
