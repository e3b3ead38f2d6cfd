"""A real browser: another site's page cannot write, and DNS rebinding reaches nothing.

The attacker's page is served by Playwright's request interception at http://evil.example, so
Chromium itself computes Origin and Sec-Fetch-Site, as it would for a real site.
"""

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, async_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

EVIL = "http://evil.example"


@pytest.fixture
async def attacker_page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    yield await context.new_page()
    await context.close()


async def serve(page: Page, url: str, html: str) -> None:
    async def fulfil(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/html", body=html)

    await page.route(url, fulfil)


async def test_a_cross_site_form_cannot_change_metadata(
    attacker_page: Page, live_server: str
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as api:
        created = await api.post("/v1/events", json={"content": {"text": "target"}})
        event_id = created.json()["id"]
        form = f"""<form id="f" method="post" action="{live_server}/ui/events/{event_id}/metadata">
            <input name="key" value="pwned"><input name="value" value="1"></form>
            <script>document.getElementById("f").submit()</script>"""
        await serve(attacker_page, f"{EVIL}/form", form)
        async with attacker_page.expect_response(f"**/ui/events/{event_id}/metadata") as info:
            await attacker_page.goto(f"{EVIL}/form")
        response = await info.value
        assert response.status == 403
        assert "cross_site_request" in await response.text()

        stored = await api.get(f"/v1/events/{event_id}")
        assert stored.json()["metadata"] == {}


async def test_dns_rebinding_gets_nothing(live_server: str) -> None:
    """evil.example resolves to 127.0.0.1 in this browser, as after a rebinding attack."""
    port = urlsplit(live_server).port
    rules = "--host-resolver-rules=MAP evil.example 127.0.0.1"
    async with async_playwright() as playwright:
        rebound = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules]
        )
        try:
            page = await rebound.new_page()
            response = await page.goto(f"http://evil.example:{port}/ui/events")
            assert response is not None and response.status == 421
            # Same-origin from the page's point of view, so the browser lets it read the answer.
            result = await page.evaluate(
                """async () => {
                    const read = await fetch("/v1/events");
                    const write = await fetch("/v1/events", {
                        method: "POST", headers: {"Content-Type": "application/json"},
                        body: JSON.stringify({content: {text: "rebound"}})});
                    return [read.status, write.status, await read.text()];
                }"""
            )
        finally:
            await rebound.close()
    assert result[0] == 421 and result[1] == 421
    assert "host_not_allowed" in result[2]
