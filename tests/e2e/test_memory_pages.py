"""The memory pages in a real browser: dashboard, chart, events created by the API, live search."""

import httpx
from playwright.async_api import Page, expect

from tests.e2e.conftest import PHONE, screenshot

NOTES = [
    ("The invoice for ACME was sent on Monday", {"project": "billing"}),
    ("Deploy the staging cluster after the review", {"project": "ops"}),
    ("The customer asked about a refund for the invoice", {"project": "billing"}),
]


async def store_notes(live_server: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=live_server) as api:
        events = [{"content": {"text": text}, "metadata": meta} for text, meta in NOTES]
        response = await api.post("/v1/events/batch", json={"events": events})
        assert response.status_code == 201, response.text
        return response.json()["events"]


async def test_dashboard_shows_counts_and_draws_the_chart(page: Page, live_server: str):
    await store_notes(live_server)
    await page.goto("/ui/")
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    await expect(page.get_by_test_id("event-count")).to_have_text("3")
    await expect(page.get_by_test_id("health")).to_have_text("ok")
    # uPlot draws into a canvas inside the chart area.
    await expect(page.locator("[data-testid=activity-chart] canvas").first).to_be_visible()
    await expect(page.get_by_test_id("activity-total")).to_contain_text("3 events in the last 30")
    await screenshot(page, "dashboard")

    await page.keyboard.press("Tab")  # keyboard users can skip the navigation
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

    await page.get_by_role("link", name="7 days").click()  # an HTMX swap of the chart block
    await expect(page.get_by_test_id("activity-total")).to_contain_text("last 7 days")
    await expect(page.locator("[data-testid=activity-chart] canvas").first).to_be_visible()

    await page.set_viewport_size(PHONE)
    await page.reload()
    await expect(page.get_by_test_id("event-count")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"
    await screenshot(page, "dashboard-phone")


async def test_events_stored_through_the_api_are_found_by_the_search_page(
    page: Page, live_server: str
):
    await store_notes(live_server)
    await page.goto("/ui/search")
    box = page.get_by_role("searchbox", name="Query")
    await expect(box).to_be_focused()  # autofocus: type straight away
    await page.get_by_label("Mode").select_option("lexical")
    await box.press_sequentially("invoice", delay=30)  # results follow the typing (debounced)
    results = page.locator("#results tbody tr")
    await expect(results).to_have_count(2)
    await expect(page.locator("#results mark").first).to_have_text("invoice")
    await expect(box).to_be_focused()  # only the results were replaced
    assert "q=invoice" in page.url  # the URL can be shared
    await screenshot(page, "search-lexical")

    await page.get_by_label("Metadata key").fill("project")
    await page.get_by_label("value").fill("ops")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#results")).to_contain_text("Nothing found")

    await page.get_by_label("Metadata key").fill("")
    await page.get_by_label("Mode").select_option("hybrid")
    await expect(results).to_have_count(3)  # hybrid: the vector side finds every note
    await results.first.get_by_role("link").click()
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert "/ui/events/" in page.url
    await screenshot(page, "event")
