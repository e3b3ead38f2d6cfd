"""Every failure is a JSON {"error", "detail"} with a 4xx status, never a 500."""

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.main import create_app

SMALL_LIMIT = 2048


def assert_json_error(r: httpx.Response, status: int, error: str | None = None) -> Any:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and body["detail"], body
    if error is not None:
        assert body["error"] == error, body
    return body["detail"]


@asynccontextmanager
async def small_app_client(settings, embedders, database_url) -> AsyncIterator[httpx.AsyncClient]:
    """A second app whose body limit is SMALL_LIMIT bytes."""
    small = settings.model_copy(update={"max_request_bytes": SMALL_LIMIT})
    app = create_app(small, embedders=embedders, database_url=database_url)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


def big_event_body() -> bytes:
    return json.dumps({"content": {"text": "x" * (SMALL_LIMIT * 2)}}).encode()


async def chunks(payload: bytes, size: int = 512) -> AsyncIterator[bytes]:
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


# --- body size -------------------------------------------------------------------------------


async def test_body_over_limit_with_content_length_is_413(settings, embedders, database_url, conn):
    async with small_app_client(settings, embedders, database_url) as http:
        body = big_event_body()
        r = await http.post(
            "/v1/events", content=body, headers={"content-type": "application/json"}
        )
        assert str(SMALL_LIMIT) in assert_json_error(r, 413, "payload_too_large")
        # A body under the limit still works on the same app.
        r = await http.post("/v1/events/", json={"content": {"text": "small"}})
        assert r.status_code == 201, r.text
    assert await conn.fetchval("SELECT count(*) FROM events") == 1


async def test_streamed_body_over_limit_is_413(settings, embedders, database_url, conn):
    async with small_app_client(settings, embedders, database_url) as http:
        r = await http.post(
            "/v1/events",
            content=chunks(big_event_body()),
            headers={"content-type": "application/json"},
        )
        assert "content-length" not in r.request.headers  # really sent chunked
        assert str(SMALL_LIMIT) in assert_json_error(r, 413, "payload_too_large")
        # A streamed body under the limit is accepted.
        small = json.dumps({"content": {"text": "streamed"}}).encode()
        r = await http.post(
            "/v1/events/batch",
            content=chunks(b'{"events": [' + small + b"]}", size=8),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 201, r.text
    assert await conn.fetchval("SELECT count(*) FROM events") == 1


# --- routing and parsing ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/v1/nothing/here", "/v1/events/batch/extra/x"])
async def test_unknown_route_is_404_json(client, path):
    assert_json_error(await client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/events"),
        ("DELETE", "/v1/events/"),
        ("GET", "/v1/events/filter/metadata"),
        ("GET", "/v1/events/search/embedding/"),
        ("POST", f"/v1/events/{uuid4()}"),
    ],
)
async def test_wrong_method_is_405_json(client, method, path):
    r = await client.request(method, path, json={})
    assert_json_error(r, 405, "method_not_allowed")
    assert r.headers.get("allow"), r.headers


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/v1/events", b'{"content": {"text": "unterminated"'),
        ("/v1/events/batch", b"{events: []}"),
        ("/v1/events/search/embedding", b"[0.1, 0.2,]"),
        ("/v1/events/filter/metadata", b"not json at all"),
    ],
)
async def test_invalid_json_body_is_422_json(client, path, raw):
    r = await client.post(path, content=raw, headers={"content-type": "application/json"})
    assert_json_error(r, 422, "invalid_input")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": {"text": "x"}, "unexpected": 1}, "unexpected"),
        ({"metadata": {"a": 1}}, "content"),
        ({"content": ["not", "an", "object"]}, "content"),
        ({"content": {}, "metadata": "string"}, "metadata"),
        ({"content": {}, "timestamp": "not a date"}, "timestamp"),
        ({"content": {}, "embedding": ["a", "b"]}, "embedding"),
    ],
)
async def test_invalid_event_is_422_naming_the_field(client, conn, body, field):
    detail = assert_json_error(await client.post("/v1/events", json=body), 422, "invalid_input")
    assert any(item["field"].startswith(field) for item in detail), detail
    assert await conn.fetchval("SELECT count(*) FROM events") == 0


async def test_wrong_length_embedding_is_422_naming_the_dimension(client, settings):
    r = await client.post("/v1/events", json={"content": {}, "embedding": [0.5, 0.5]})
    detail = assert_json_error(r, 422, "invalid_embedding")
    assert str(settings.embedding_dimension) in json.dumps(detail), detail


async def test_no_failure_above_is_a_500(client):
    """A sweep of bad requests in one place: every answer is a JSON 4xx."""
    requests = [
        ("GET", f"/v1/events/{uuid4()}", None),
        ("GET", "/v1/events/123", None),
        ("GET", "/v1/events?limit=-1", None),
        ("GET", "/v1/events?offset=abc", None),
        ("GET", "/v1/events?ts_end=2024-13-45", None),
        ("GET", "/v1/events?filter_metadata=%7B", None),
        ("PATCH", f"/v1/events/{uuid4()}/metadata", b"{}"),
        ("PATCH", "/v1/events/xyz/metadata", b"{}"),
        ("DELETE", "/v1/events/xyz", None),
        ("POST", "/v1/events/search/embedding?limit=0", b"[1.0]"),
        ("POST", "/v1/events/filter/metadata?limit=100000", b"{}"),
        ("POST", "/v1/events", b""),
        ("POST", "/v1/events", b"null"),
    ]
    for method, path, raw in requests:
        headers = {"content-type": "application/json"} if raw is not None else {}
        r = await client.request(method, path, content=raw, headers=headers)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
        assert_json_error(r, r.status_code)


# --- metrics ---------------------------------------------------------------------------------


async def test_metrics_label_routes_by_template(client):
    r = await client.post("/v1/events/", json={"content": {"text": "metered"}})
    event_id = r.json()["id"]
    assert (await client.get(f"/v1/events/{event_id}")).status_code == 200
    assert (await client.get(f"/v1/events/{uuid4()}/")).status_code == 404
    assert (await client.get("/no/such/route")).status_code == 404

    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    text = r.text
    assert "mnemolite_http_request_duration_seconds" in text
    assert event_id not in text  # concrete ids never become label values

    def count(method: str, route: str, status: int) -> float:
        pattern = (
            r"^mnemolite_http_request_duration_seconds_count\{"
            rf'method="{method}",route="{re.escape(route)}",status="{status}"\}} (\S+)$'
        )
        match = re.search(pattern, text, re.MULTILINE)
        assert match, f"no sample for {method} {route} {status}"
        return float(match.group(1))

    assert count("GET", "/v1/events/{event_id}", 200) >= 1
    assert count("GET", "/v1/events/{event_id}", 404) >= 1
    assert count("POST", "/v1/events", 201) >= 1
    assert count("GET", "unmatched", 404) >= 1


async def test_nul_characters_get_a_clear_422_and_nothing_is_written(client, conn):
    for body in (
        {"content": {"text": "a\u0000b"}},
        {"content": {"text": "ok"}, "metadata": {"tag": "x\u0000"}},
    ):
        response = await client.post("/v1/events", json=body)
        assert response.status_code == 422, response.text
        assert "\\u0000" in response.json()["detail"]
    batch = {"events": [{"content": {"text": "fine"}}, {"content": {"text": "bad\u0000"}}]}
    assert (await client.post("/v1/events/batch", json=batch)).status_code == 422
    assert await conn.fetchval("SELECT count(*) FROM events") == 0
