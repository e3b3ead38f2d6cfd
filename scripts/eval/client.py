"""The HTTP calls of the evaluation: loading sets and searching them, as any client would.

Every function takes an `httpx.AsyncClient`, so the same code drives a served API (`make eval`)
and an in-process app through `httpx.ASGITransport` (tests/eval/test_retrieval_floor.py).
"""

from typing import Any

import httpx

from scripts.eval.scoring import K
from scripts.index_dir import batches

EVENT_BATCH = 256  # events per POST /v1/events/batch (scripts/bench/search.py sends 256 too)
CODE_METHODS = ("lexical", "vector", "vector_code", "hybrid")
EVENT_METHODS = ("lexical", "vector", "hybrid")


def _checked(response: httpx.Response, expected: int = 200) -> Any:
    if response.status_code != expected:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    return response.json()


async def index_repository(
    client: httpx.AsyncClient, repository: str, files: list[tuple[str, str]]
) -> dict[str, int]:
    """POST /v1/code/index in the batches `make index` sends (graph built with the last one)."""
    groups = list(batches(files))
    totals = {"files": 0, "chunks": 0}
    for position, group in enumerate(groups):
        body = {
            "repository": repository,
            "files": [{"path": path, "content": text} for path, text in group],
            "full_snapshot": len(groups) == 1,
            "build_graph": position == len(groups) - 1,
        }
        result = _checked(await client.post("/v1/code/index", json=body, timeout=1800), 201)
        if result["errors"]:
            raise RuntimeError(f"{repository}: files failed to index: {result['errors'][:3]}")
        totals["files"] += result["indexed_files"]
        totals["chunks"] += result["indexed_chunks"]
    return totals


async def post_events(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), EVENT_BATCH):
        batch = {"events": events[start : start + EVENT_BATCH]}
        _checked(await client.post("/v1/events/batch", json=batch, timeout=1800), 201)


def code_request(method: str, query: str, repository: str, k: int = K) -> tuple[str, dict]:
    """The path and body of one code search by `method` (lexical, vector, vector_code, hybrid)."""
    body: dict[str, Any] = {"query": query, "filters": {"repository": repository}}
    if method == "hybrid":
        return "/v1/code/search/hybrid", {**body, "top_k": k}
    if method == "vector_code":
        return "/v1/code/search/vector", {**body, "limit": k, "embedding_domain": "CODE"}
    return f"/v1/code/search/{method}", {**body, "limit": k}


async def code_search(
    client: httpx.AsyncClient, method: str, query: str, repository: str, k: int = K
) -> list[str]:
    """Keys (`path::qualified name`) of the results, in rank order."""
    path, body = code_request(method, query, repository, k)
    results = _checked(await client.post(path, json=body))["results"]
    return [code_key(hit["file_path"], hit["qualified_name"]) for hit in results]


def code_key(path: str, qualified_name: str) -> str:
    return f"{path}::{qualified_name}"


async def event_search(
    client: httpx.AsyncClient,
    mode: str,
    query: str,
    *,
    session_id: str,
    key_field: str,
    k: int = K,
) -> list[str]:
    """POST /v1/search in one mode, limited to one session; the results' `metadata[key_field]`."""
    body = {"query": query, "mode": mode, "session_id": session_id, "limit": k}
    data = _checked(await client.post("/v1/search", json=body))["data"]
    return [str(hit["metadata"].get(key_field)) for hit in data]
