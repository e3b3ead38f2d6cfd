"""The web UI: pages render from the same services as the API; HTMX gets fragments."""

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.memory.events import service as events

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
    assert bad.status_code == 422 and "Invalid filter" in bad.text


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
    keyless = await client.post(f"/ui/events/{event['id']}/metadata", data={"value": "1"})
    assert keyless.status_code == 422 and "Give a key." in keyless.text
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
    assert bad.status_code == 422 and 'role="alert"' in bad.text


async def test_activity_counts_events_per_day_and_week_with_empty_days(client, conn):
    now = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    for stamp in (
        "2026-03-10T01:00:00Z",
        "2026-03-10T23:59:00Z",
        "2026-03-08T12:00:00Z",
        "2026-03-03T23:59:59Z",
        "2026-03-04T00:00:00Z",
        "2025-01-01T00:00:00Z",
        "2026-03-11T00:00:00Z",
    ):  # the last is tomorrow: not shown
        await client.post("/v1/events", json={"content": {"text": stamp}, "timestamp": stamp})
    week = await events.activity(conn, days=7, now=now)
    assert [b.start.date().isoformat() for b in week.buckets][0] == "2026-03-04"
    assert [b.events for b in week.buckets] == [1, 0, 0, 0, 1, 0, 2]
    assert week.total == 4 and week.bucket_days == 1
    year = await events.activity(conn, days=365, now=now)
    assert year.bucket_days == 7 and len(year.buckets) == 53
    assert year.buckets[-1].start == datetime(2026, 3, 4, tzinfo=UTC)  # the last 7 days
    assert [b.events for b in year.buckets[-2:]] == [1, 4] and year.total == 5


async def test_dashboard_chart_data_and_range_switch(client):
    today = datetime.now(UTC).replace(microsecond=0)
    for hours in (1, 2, 30):
        stamp = (today - timedelta(hours=hours)).isoformat()
        await client.post("/v1/events", json={"content": {"text": "x"}, "timestamp": stamp})
    page = (await client.get("/ui/")).text
    assert "/static/vendor/uplot-1.6.32.iife.min.js" in page and "js/dashboard.js" in page
    data = json.loads(re.search(r'class="chart-data">(.*?)</script>', page, re.S).group(1))
    assert len(data["x"]) == len(data["y"]) == 30 and sum(data["y"]) == 3
    assert data["x"] == sorted(data["x"]) and data["x"][1] - data["x"][0] == 86_400
    assert re.search(r'data-testid="activity-total">\s*3 events in the last 30 days', page)
    fragment = await client.get(
        "/ui/", params={"days": 7}, headers={"HX-Request": "true", "HX-Target": "activity"}
    )
    assert "<h1" not in fragment.text and "Events over time" in fragment.text
    assert "last 7 days" in fragment.text and 'aria-current="true">7 days' in fragment.text
    odd = await client.get("/ui/", params={"days": 12})  # not offered: the default range
    assert "last 30 days" in odd.text
    static = await client.get("/static/js/dashboard.js")
    assert static.status_code == 200 and "uPlot" in static.text


async def test_search_page_time_window(client):
    await make_events(client, 5)  # one a day, 2026-01-01 to 2026-01-05
    params = {"q": "billing", "mode": "lexical", "ts_start": "2026-01-02T00:00"}
    window = await client.get("/ui/search", params={**params, "ts_end": "2026-01-03T23:59"})
    assert window.text.count('<td><a href="/ui/events/') == 2
    assert 'value="2026-01-02T00:00"' in window.text  # the form keeps the window
    reversed_window = await client.get("/ui/search", params={**params, "ts_end": "2026-01-01"})
    assert 'role="alert"' in reversed_window.text and "ts_start" in reversed_window.text
    bad = await client.get("/ui/search", params={**params, "ts_end": "tomorrow"})
    assert bad.status_code == 422 and "Invalid time" in bad.text


async def test_history_restore_gets_the_whole_page(client):
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true", "HX-Target": "results"}
    restored = await client.get("/ui/search", params={"q": "x"}, headers=headers)
    assert restored.text.startswith("<!doctype html>") and "<nav" in restored.text
