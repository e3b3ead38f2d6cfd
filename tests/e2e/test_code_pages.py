"""The code pages in a real browser: index from the browser, search, walk the call graph."""

import asyncio

from playwright.async_api import Page, expect

from tests.e2e.conftest import PHONE, screenshot

BILLING = '''"""Billing."""


def compute_tax(amount, rate):
    """Tax owed on an amount."""
    return round(amount * rate, 2)


def invoice_total(lines, rate):
    """Sum the lines of an invoice and add the tax."""
    subtotal = sum(line.price for line in lines)
    return subtotal + compute_tax(subtotal, rate)
'''
REPORTS = '''from billing import invoice_total


def monthly_report(invoices, rate):
    """Totals of a month's invoices."""
    return [invoice_total(lines, rate) for lines in invoices]
'''
BROKEN = "garbage \x00 in the middle"  # a NUL byte: a binary file, reported per file
FILES = {"shop/billing.py": BILLING, "shop/reports.py": REPORTS, "shop/blob.py": BROKEN}


async def index_from_the_browser(page: Page, repository: str) -> None:
    await page.goto("/ui/code")
    await expect(page.get_by_role("heading", name="Index code")).to_be_visible()
    await page.get_by_label("Repository name").fill(repository)
    uploads = [
        {"name": path.rsplit("/", 1)[-1], "mimeType": "text/x-python", "buffer": body.encode()}
        for path, body in FILES.items()
    ]
    await page.locator("#upload-files").set_input_files(uploads)
    await page.get_by_role("button", name="Index", exact=True).click()
    # The fragment polls itself; the bar reaches 100% and the job says it succeeded.
    await expect(page.get_by_test_id("job-status")).to_contain_text("succeeded", timeout=30_000)
    await expect(page.get_by_test_id("job-progress")).to_have_attribute("value", "100")
    await expect(page.get_by_test_id("job-percent")).to_contain_text("100")
    await expect(page.get_by_test_id("job-errors")).to_contain_text("blob.py")
    # The finished job refreshes the repositories table.
    row = page.locator(f"[data-testid=repository-row][data-repository='{repository}']")
    await expect(row.get_by_test_id("repository-files")).to_have_text("2")
    await screenshot(page, "code-indexed")


async def test_index_search_and_walk_the_graph_to_a_caller(page: Page):
    await index_from_the_browser(page, "shop")

    await page.get_by_role("link", name="Code search").click()
    await page.locator("#code-query").press_sequentially("tax owed", delay=30)
    hits = page.get_by_test_id("code-hit")
    await expect(hits.first).to_be_visible()
    top = hits.filter(has_text="compute_tax").first
    await expect(top.get_by_test_id("hit-location")).to_contain_text("billing.py:4")
    await expect(top.locator("pre code.hljs")).to_be_visible()  # highlighted by highlight.js
    await expect(top.locator("pre code .hljs-keyword").first).to_have_text("def")
    await expect(top.get_by_test_id("hit-scores")).to_contain_text("Fused score")
    async with page.expect_response(lambda r: "kind=function" in r.url):
        await page.get_by_label("Kind").select_option("function")
    # Every block of the new results is highlighted again.
    await expect(page.locator("#results pre code:not(.hljs)")).to_have_count(0)
    await screenshot(page, "code-search")

    await top.get_by_role("link", name="graph", exact=False).first.click()
    graph = page.get_by_test_id("graph")
    await expect(graph.locator("canvas").first).to_be_visible()
    callers = page.get_by_test_id("callers")
    await expect(callers).to_contain_text("invoice_total")
    await screenshot(page, "code-graph")

    # Click the caller's node in the drawing: its code opens in the side panel.
    await graph.scroll_into_view_if_needed()
    await asyncio.sleep(0.3)  # Cytoscape learns the container's position on scroll
    point = await page.evaluate(
        """() => {
            const cy = window.mnemoliteGraph;
            const node = cy.nodes().filter((n) => n.data("label").endsWith("invoice_total"))[0];
            const box = cy.container().getBoundingClientRect();
            const at = node.renderedPosition();
            return { x: box.left + at.x, y: box.top + at.y };
        }"""
    )
    await page.mouse.click(point["x"], point["y"])
    panel = page.get_by_test_id("code-panel")
    await expect(panel.get_by_test_id("code")).to_contain_text("def invoice_total")
    await screenshot(page, "code-graph-caller")

    # And from the caller, on to its own caller in another file, by keyboard through the table.
    await callers.get_by_role("link", name="Center the graph on invoice_total").click()
    await expect(page.get_by_test_id("callers")).to_contain_text("monthly_report")
    await page.get_by_test_id("path-source").fill("monthly_report")
    await page.get_by_test_id("path-target").fill("compute_tax")
    await page.get_by_test_id("path-target").press("Enter")
    path = page.get_by_test_id("path")
    await expect(path.locator("[data-path-node]")).to_have_count(3)
    await screenshot(page, "code-graph-path")

    await page.set_viewport_size(PHONE)
    await page.reload()
    await expect(graph.locator("canvas").first).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the graph page scrolls sideways on a phone ({width}px)"
    await screenshot(page, "code-graph-phone")
