"""Every limit answers with a clear 4xx (413 for sizes, 422 for values) or 503 for a timeout.

Where a setting controls the limit, the message names it, so an operator knows what to raise.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import AppFactory

ZERO = "00000000-0000-0000-0000-000000000000"


def messages(response: httpx.Response) -> str:
    return json.dumps(response.json()["detail"])


async def test_request_body_size(app_with: AppFactory) -> None:
    async with app_with(max_request_bytes=2048) as client:
        body = {"content": {"text": "x" * 4096}}
        response = await client.post("/v1/events", json=body)
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"
        assert "MAX_REQUEST_BYTES" in messages(response)

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length
            yield json.dumps(body).encode()

        streamed = await client.post(
            "/v1/events", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert "MAX_REQUEST_BYTES" in messages(streamed)


async def test_batch_size(app_with: AppFactory) -> None:
    async with app_with(max_batch_events=2) as client:
        events = [{"content": {"text": f"e{i}"}} for i in range(3)]
        response = await client.post("/v1/events/batch", json={"events": events})
        assert response.status_code == 413
        assert "MAX_BATCH_EVENTS" in messages(response)
        ok = await client.post("/v1/events/batch", json={"events": events[:2]})
        assert ok.status_code == 201


async def test_files_per_index_request(app_with: AppFactory) -> None:
    async with app_with(code_index_max_files=1) as client:
        files = [{"path": f"m{i}.py", "content": "x = 1\n"} for i in range(2)]
        response = await client.post("/v1/code/index", json={"repository": "r", "files": files})
        assert response.status_code == 413
        assert "CODE_INDEX_MAX_FILES" in messages(response)


async def test_file_size_in_an_index_request(app_with: AppFactory) -> None:
    async with app_with(code_index_max_file_bytes=100) as client:
        files = [
            {"path": "small.py", "content": "def f():\n    return 1\n"},
            {"path": "big.py", "content": "x = 1\n" * 50},
        ]
        response = await client.post("/v1/code/index", json={"repository": "r", "files": files})
        assert response.status_code == 201, response.text
        result = response.json()
        assert result["indexed_files"] == 1
        assert result["skipped_files"] == [
            {"file": "big.py", "error": "larger than 100 bytes (CODE_INDEX_MAX_FILE_BYTES)"}
        ]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/search", {}),
        ("GET", "/v1/search", None),
        ("POST", "/v1/code/search/lexical", {}),
        ("POST", "/v1/code/search/vector", {}),
        ("POST", "/v1/code/search/hybrid", {}),
    ],
)
async def test_query_length(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    query = "word " * 400  # 2000 characters: the most any search takes
    for text, status in ((query, 200), (query + "x", 422)):
        if body is None:
            response = await client.get(path, params={"query": text})
        else:
            response = await client.post(path, json={**body, "query": text})
        assert response.status_code == status, response.text
    assert response.json()["error"] == "invalid_input"
    assert "2000 characters" in messages(response)
    assert response.json()["detail"][0]["field"].endswith("query")


# (path, where the parameter goes, parameter, value): each just outside its range.
PAGING = [
    ("/v1/events", "query", "limit", 0),
    ("/v1/events", "query", "limit", 501),
    ("/v1/events", "query", "offset", -1),
    ("/v1/events", "query", "offset", 100_001),
    ("/v1/events/filter/metadata", "query", "limit", 501),
    ("/v1/events/filter/metadata", "query", "offset", 100_001),
    ("/v1/events/search/embedding", "query", "limit", 101),
    ("/v1/search", "query", "limit", 101),
    ("/v1/search", "query", "offset", 1001),
    ("/v1/search", "body", "limit", 101),
    ("/v1/search", "body", "offset", 1001),
    ("/v1/search", "body", "offset", -1),
    ("/v1/code/search/lexical", "body", "limit", 101),
    ("/v1/code/search/vector", "body", "limit", 101),
    ("/v1/code/search/hybrid", "body", "top_k", 101),
    ("/v1/code/search/hybrid", "body", "candidate_pool_size", 501),
    (f"/v1/code/graph/chunks/{ZERO}/callers", "query", "depth", 11),
    ("/v1/code/graph/traverse", "body", "max_depth", 11),
    ("/v1/code/graph/path", "body", "max_depth", 11),
]
POST_WITH_QUERY = {"/v1/events/filter/metadata", "/v1/events/search/embedding"}
# The rest of a valid request for the routes that take a body.
BODIES: dict[str, Any] = {
    "/v1/search": {},
    "/v1/events/filter/metadata": {},
    "/v1/events/search/embedding": [0.1] * 384,
    "/v1/code/search/lexical": {"query": "x"},
    "/v1/code/search/vector": {"query": "x"},
    "/v1/code/search/hybrid": {"query": "x"},
    "/v1/code/graph/traverse": {"start_node_id": ZERO},
    "/v1/code/graph/path": {"source_node_id": ZERO, "target_node_id": ZERO},
}


@pytest.mark.parametrize(("path", "where", "name", "value"), PAGING)
async def test_paging_bounds(
    client: httpx.AsyncClient, path: str, where: str, name: str, value: int
) -> None:
    body = BODIES.get(path)
    if where == "body":
        response = await client.post(path, json={**body, name: value})
    elif path in POST_WITH_QUERY:
        response = await client.post(path, params={name: value}, json=body)
    else:
        response = await client.get(path, params={name: value})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"
    assert response.json()["detail"][0]["field"].endswith(name)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


async def test_metadata_filter_depth(client: httpx.AsyncClient) -> None:
    ok = await client.get("/v1/events", params={"filter_metadata": json.dumps(nested(32))})
    assert ok.status_code == 200, ok.text
    deep = json.dumps(nested(33))
    for response in (
        await client.get("/v1/events", params={"filter_metadata": deep}),
        await client.get("/v1/search", params={"filter_metadata": deep}),
        await client.post("/v1/search", json={"metadata": nested(33)}),
        await client.post("/v1/events/filter/metadata", json=nested(33)),
    ):
        assert response.status_code == 422, response.text
        assert "nested deeper than 32" in messages(response)
    # Far deeper than Python's recursion limit: still a 422, never a 500.
    abyss = "[" * 15_000
    response = await client.get("/v1/events", params={"filter_metadata": abyss})
    assert response.status_code == 422, response.text


async def test_statement_timeout(app_with: AppFactory, database_url: str) -> None:
    """A query waiting longer than DB_STATEMENT_TIMEOUT_MS (here on a lock) is cancelled: 503."""
    blocker = await asyncpg.connect(database_url)
    try:
        async with app_with(db_statement_timeout_ms=300) as client:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            try:
                response = await asyncio.wait_for(client.get("/v1/events"), timeout=30)
            finally:
                await transaction.rollback()
            assert response.status_code == 503
            assert response.json()["error"] == "timeout"
            assert "DB_STATEMENT_TIMEOUT_MS" in messages(response)
            assert (await client.get("/v1/events")).status_code == 200
    finally:
        await blocker.close()


async def test_ui_offset_is_clamped(client: httpx.AsyncClient) -> None:
    """A hand-edited page URL still gets a page, never a 500 from an offset PostgreSQL refuses."""
    for offset in ("99999999999999999999", "-5"):
        response = await client.get("/ui/events", params={"offset": offset})
        assert response.status_code == 200
