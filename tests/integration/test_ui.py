"""The web UI: pages render from the same services as the API; HTMX gets fragments."""

import html
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_dashboard_page_shows_counts_health_models_and_recent_events(client, embedders):
    for text in ("first note", "second note"):
        await client.post("/v1/events", json={"content": {"text": text}, "metadata": {"n": 1}})
    files = [{"path": "a.py", "content": "def f():\n    return 1\n"}]
    await client.post("/v1/code/index", json={"repository": "demo", "files": files})
    for path in ("/ui", "/ui/"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["vary"] == "HX-Request"
    page = response.text
    assert page.startswith("<!doctype html>")
    assert re.search(r'data-testid="event-count">2<', page)
    assert re.search(r'data-testid="repository-count">1<', page)
    assert re.search(r'data-testid="chunk-count">1<', page)
    assert re.search(r'data-testid="health">ok<', page)
    assert "second note" in page and "demo" in page
    assert page.count('<td><a href="/ui/events/') == 2  # recent events link to their pages
    assert embedders.text.model_name in page
    assert "/static/vendor/htmx-2.0.11.min.js" in page


async def test_htmx_request_gets_the_fragment_only(client):
    response = await client.get("/ui/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text and "<h1" in response.text
    assert "No events yet" in response.text  # the empty state
    assert response.headers["vary"] == "HX-Request"


async def test_vendored_assets_are_served_offline(client):
    script = await client.get("/static/vendor/htmx-2.0.11.min.js")
    assert script.status_code == 200
    assert script.content == (ROOT / "static/vendor/htmx-2.0.11.min.js").read_bytes()
    assert b"htmx" in script.content[:2000]
    css = await client.get("/static/css/mnemolite.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


async def make_events(client, count: int) -> list[dict]:
    created = []
    for i in range(count):
        body = {
            "content": {"text": f"note number {i} about billing"},
            "metadata": {"project": "alpha" if i % 2 else "beta", "n": i},
            "timestamp": f"2026-01-{i + 1:02d}T12:00:00Z",
        }
        created.append((await client.post("/v1/events", json=body)).json())
    return created


async def test_events_list_filters_and_pages(client):
    await make_events(client, 25)
    first = (await client.get("/ui/events")).text
    assert first.count('href="/ui/events/') == 20  # one page
    assert "note number 24" in first and "Older" in first and "Newer" not in first
    second = await client.get("/ui/events", params={"offset": 20}, headers={"HX-Request": "true"})
    assert "<html" not in second.text and "note number 0" in second.text
    assert "Newer" in second.text and "Older" not in second.text
    filtered = (await client.get("/ui/events", params={"key": "n", "value": "7"})).text
    assert filtered.count('href="/ui/events/') == 1 and "note number 7" in filtered
    window = await client.get(
        "/ui/events", params={"ts_start": "2026-01-03T00:00", "ts_end": "2026-01-04T23:59"}
    )
    assert window.text.count('href="/ui/events/') == 2
    bad = await client.get("/ui/events", params={"ts_start": "soon"})
    assert bad.status_code == 200 and "Invalid filter" in bad.text


async def test_event_page_shows_neighbours_edits_and_deletes(client):
    created = await make_events(client, 4)
    event = created[1]
    page = await client.get(f"/ui/events/{event['id']}")
    assert page.status_code == 200
    assert "note number 1 about billing" in page.text
    assert page.text.count('<td><a href="/ui/events/') == 3  # the other events, by similarity
    edited = await client.post(
        f"/ui/events/{event['id']}/metadata", data={"key": "reviewed", "value": "true"}
    )
    assert '"reviewed": true' in html.unescape(edited.text)
    stored = (await client.get(f"/v1/events/{event['id']}")).json()["metadata"]
    assert stored == {"project": "alpha", "n": 1, "reviewed": True}
    deleted = await client.delete(f"/ui/events/{event['id']}")
    assert deleted.headers["HX-Redirect"] == "/ui/events"
    assert (await client.get(f"/v1/events/{event['id']}")).status_code == 404
    gone = await client.get(f"/ui/events/{event['id']}")
    assert gone.status_code == 404 and "No event with id" in gone.text


async def test_search_page_finds_highlights_and_updates_results_only(client):
    await make_events(client, 3)
    await client.post("/v1/events", json={"content": {"text": "lunch <b>pizza</b> order"}})
    page = await client.get("/ui/search", params={"q": "billing", "mode": "lexical"})
    assert page.status_code == 200 and "<html" in page.text
    assert page.text.count('<td><a href="/ui/events/') == 3
    assert "<mark>billing</mark>" in page.text
    assert "lexical" in page.text and "ms</p>" in page.text
    live = await client.get(
        "/ui/search",
        params={"q": "pizza", "mode": "hybrid"},
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    assert "<form" not in live.text and "<h1" not in live.text  # the results block only
    assert "&lt;b&gt;<mark>pizza</mark>&lt;/b&gt;" in live.text  # content escaped, then marked
    assert "ranks" in live.text
    filtered = await client.get(
        "/ui/search", params={"q": "billing", "mode": "vector", "key": "project", "value": "beta"}
    )
    assert filtered.text.count('<td><a href="/ui/events/') == 2
    empty = await client.get("/ui/search")
    assert "Type to search" in empty.text
    bad = await client.get("/ui/search", params={"q": "x", "mode": "telepathy"})
    assert bad.status_code == 200 and 'role="alert"' in bad.text
