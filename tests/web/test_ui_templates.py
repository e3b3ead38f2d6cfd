"""Every UI page renders the template it should, with its key context, through the real app."""

import time

import pytest
from starlette.testclient import TestClient

from api.main import create_app


@pytest.fixture
def browser_client(settings, database_url):
    """Starlette's TestClient reports the template and context a page was rendered with."""
    with TestClient(create_app(settings, database_url=database_url)) as http:
        yield http


def wait_for_job(http: TestClient, job_id: str) -> None:
    deadline = time.monotonic() + 30
    while http.get(f"/v1/code/index/jobs/{job_id}").json()["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, "the index job did not finish"
        time.sleep(0.1)


def test_each_page_renders_its_template(browser_client):
    http = browser_client
    event = http.post("/v1/events", json={"content": {"text": "remember the milk"}}).json()
    files = [
        {"path": "a.py", "content": "def helper():\n    return 1\n\n\ndef main():\n    helper()\n"}
    ]
    job = http.post("/v1/code/index/jobs", json={"repository": "demo", "files": files}).json()
    wait_for_job(http, job["id"])
    hit = http.post("/v1/code/search/lexical", json={"query": "helper"}).json()["results"][0]

    pages = {
        "/ui/": ("dashboard.html", "activity"),
        "/ui/events": ("events.html", "listing"),
        f"/ui/events/{event['id']}": ("event.html", "neighbours"),
        "/ui/search?q=milk": ("search.html", "result"),
        "/ui/code": ("code.html", "repositories"),
        f"/ui/code/jobs/{job['id']}": ("code_job.html", "job"),
        "/ui/code/search?q=helper": ("code_search.html", "hits"),
        f"/ui/code/chunks/{hit['chunk_id']}": ("chunk.html", "chunk"),
        f"/ui/code/graph?chunk={hit['chunk_id']}": ("graph.html", "view"),
        "/ui/code/graph/path?source=main&target=helper": ("graph.html", "view"),
        "/ui/events/00000000-0000-7000-8000-000000000000": ("not_found.html", "message"),
    }
    for url, (template, key) in pages.items():
        response = http.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        assert response.template.name == template, url
        assert response.context.get(key) is not None, (url, key)
        assert response.text.startswith("<!doctype html>"), url
    found = http.get("/ui/code/graph/path?source=main&target=helper").context["view"].path.found
    assert found is not None and found.found and found.length == 1
