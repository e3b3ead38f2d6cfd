"""With API_KEY set, a real browser signs in once and the htmx pages work on the session cookie."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import DESKTOP, screenshot
from tests.support.servers import uvicorn_server

KEY = "e2e-key-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app under uvicorn with API_KEY set."""
    log = tmp_path_factory.mktemp("keyed-server") / "server.log"
    with uvicorn_server(database_url, log, API_KEY=KEY) as url:
        yield url


@pytest.fixture
async def keyed_page(browser: Browser, keyed_server: str) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=DESKTOP, base_url=keyed_server)
    yield await context.new_page()
    await context.close()


async def test_sign_in_search_and_sign_out(keyed_page: Page, keyed_server: str) -> None:
    page = keyed_page
    async with httpx.AsyncClient(base_url=keyed_server) as api:
        refused = await api.post("/v1/events", json={"content": {"text": "x"}})
        assert refused.status_code == 401
        stored = await api.post(
            "/v1/events",
            json={"content": {"text": "the invoice export is signed in"}},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert stored.status_code == 201

    await page.goto("/ui/search")
    assert "/ui/login" in page.url
    await screenshot(page, "login")
    await page.get_by_label("API key").fill("wrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid")

    await page.get_by_label("API key").fill(KEY)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{keyed_server}/ui/search")
    cookies = await page.context.cookies()
    session = next(cookie for cookie in cookies if cookie["name"] == "mnemolite_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert KEY not in session["value"]

    # The results come from htmx requests, which carry the cookie.
    await page.get_by_label("Mode").select_option("lexical")
    await page.get_by_role("searchbox", name="Query").press_sequentially("invoice", delay=30)
    await expect(page.locator("#results tbody tr")).to_have_count(1)

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.goto("/ui/events")
    assert "/ui/login" in page.url
