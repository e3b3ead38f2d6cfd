"""The web UI: pages render from the same services as the API; HTMX gets fragments."""

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
    html = response.text
    assert html.startswith("<!doctype html>")
    assert re.search(r'data-testid="event-count">2<', html)
    assert re.search(r'data-testid="repository-count">1<', html)
    assert re.search(r'data-testid="chunk-count">1<', html)
    assert re.search(r'data-testid="health">ok<', html)
    assert "second note" in html and "demo" in html
    assert embedders.text.model_name in html
    assert "/static/vendor/htmx-2.0.11.min.js" in html


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
