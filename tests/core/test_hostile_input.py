"""Hostile input against every kind of field: never a 5xx, and the data survives.

A corpus of odd strings (bidi overrides, zero-width and combining characters, emoji, a
20,000-character string, NUL, SQL and LIKE metacharacters) goes into each string-bearing field
of each endpoint; raw JSON bodies bring what Python's `json.dumps` cannot write (lone surrogates,
1e400, NaN, 10,000-deep nesting); odd path segments go to every route with a path parameter.
Each answer is a correct 2xx or a clear `{"error", "detail"}` 4xx, and after each request the
rows seeded beforehand are still there.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from uuid import UUID

import asyncpg
import httpx
import pytest

ODD_STRINGS = {
    "rtl_override": "\u202egnp.exe\u202c tab\tnewline\n",
    "zero_width": "a\u200bb\u200c\u200dc\ufeffd\u2060",
    "combining": "e\u0301\u0302\u0303\u0304" + "\u0336" * 50 + "Z\u0334\u0321\u031b",
    "emoji": "😀 👩‍👩‍👧 🏳️‍🌈 \U0001f9ea \U000f7f77",
    # Long, yet inside httpx's 65,536-character limit on a URL component.
    "very_long": "ab" * 10_000,
    "nul": "a\u0000b",
    "only_nul": "\u0000",
    "sql_drop": "'; DROP TABLE events; --",
    "sql_or": "' OR '1'='1",
    "bind_marker": "$1 $2::text",
    "like_percent": "%",
    "like_underscore": "_",
    "backslashes": "\\ \\\\ \\x00 \\u0000 \\'",
    "tsquery_ops": "!(a & b) | c:* <-> ''",
    "json_path": '$.a[*] ? (@ > 1) {"a": 1}',
}
SQL_LIKE = {
    "sql_drop",
    "sql_or",
    "bind_marker",
    "like_percent",
    "like_underscore",
    "backslashes",
}


@dataclass(frozen=True)
class Seeded:
    event_id: UUID
    repository: str


@pytest.fixture
async def seeded(client: httpx.AsyncClient) -> Seeded:
    """One event and one indexed repository that no hostile request may damage."""
    response = await client.post(
        "/v1/events", json={"content": {"text": "keep me"}, "metadata": {"tag": "seed"}}
    )
    assert response.status_code == 201, response.text
    files = [{"path": "keep.py", "content": "def keep():\n    return 1\n"}]
    indexed = await client.post("/v1/code/index", json={"repository": "seed", "files": files})
    assert indexed.status_code == 201, indexed.text
    return Seeded(UUID(response.json()["id"]), "seed")


async def table_counts(conn: asyncpg.Connection) -> dict[str, int]:
    tables = ("events", "code_files", "code_chunks", "nodes", "edges", "index_jobs")
    return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in tables}


async def assert_seed_intact(conn: asyncpg.Connection, seeded: Seeded) -> None:
    event = await conn.fetchval("SELECT count(*) FROM events WHERE id = $1", seeded.event_id)
    chunks = await conn.fetchval(
        "SELECT count(*) FROM code_chunks WHERE repository = $1", seeded.repository
    )
    assert (event, chunks > 0) == (1, True)


def assert_handled(response: httpx.Response) -> None:
    """A success, or a 4xx in the one error shape; never a 5xx."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail"}, body
        assert body["error"] and body["detail"], body


Request = Callable[[httpx.AsyncClient, str, Seeded], Any]


def filters(s: str) -> dict[str, Any]:
    return {"repository": s, "language": s, "chunk_type": s, "file_path": s}


# Each sends the string into every string field (and JSON key) the endpoint has; `True` marks
# the ones that write rows, whose table counts may grow.
ENDPOINTS: dict[str, tuple[bool, Request]] = {
    "create_event": (
        True,
        lambda c, s, _: c.post(
            "/v1/events", json={"content": {"text": s, s: s}, "metadata": {"tag": s, s: [s]}}
        ),
    ),
    "create_batch": (
        True,
        lambda c, s, _: c.post(
            "/v1/events/batch", json={"events": [{"content": {s: s}, "metadata": {s: s}}]}
        ),
    ),
    "patch_metadata": (
        True,
        lambda c, s, seed: c.patch(f"/v1/events/{seed.event_id}/metadata", json={s: s}),
    ),
    "list_filter": (
        False,
        lambda c, s, _: c.get("/v1/events", params={"filter_metadata": json.dumps({s: [s]})}),
    ),
    "filter_metadata": (
        False,
        lambda c, s, _: c.post("/v1/events/filter/metadata", json={"tag": s, s: {s: s}}),
    ),
    "search_get": (
        False,
        lambda c, s, _: c.get(
            "/v1/search", params={"query": s, "filter_metadata": json.dumps({"tag": s})}
        ),
    ),
    "search_post": (
        False,
        lambda c, s, _: c.post(
            "/v1/search", json={"query": s, "metadata": {s: s}, "mode": "hybrid"}
        ),
    ),
    "code_index": (
        True,
        lambda c, s, _: c.post(
            "/v1/code/index",
            json={
                "repository": s,
                "files": [{"path": s, "content": f"def f():\n    return {s!r}\n"}],
                "commit_hash": s,
            },
        ),
    ),
    "code_index_job": (
        True,
        lambda c, s, _: c.post(
            "/v1/code/index/jobs",
            json={"repository": s, "files": [{"path": s, "content": s, "language": s}]},
        ),
    ),
    "code_lexical": (
        False,
        lambda c, s, _: c.post("/v1/code/search/lexical", json={"query": s, "filters": filters(s)}),
    ),
    "code_lexical_seed": (
        False,
        lambda c, s, seed: c.post(
            "/v1/code/search/lexical",
            json={"query": s, "filters": {"repository": seed.repository, "file_path": s}},
        ),
    ),
    "code_vector": (
        False,
        lambda c, s, _: c.post("/v1/code/search/vector", json={"query": s, "filters": filters(s)}),
    ),
    "code_hybrid": (
        False,
        lambda c, s, _: c.post("/v1/code/search/hybrid", json={"query": s, "filters": filters(s)}),
    ),
    "graph_build": (
        True,
        lambda c, s, _: c.post("/v1/code/graph/build", json={"repository": s}),
    ),
    "graph_stats": (
        False,
        lambda c, s, _: c.get(f"/v1/code/graph/stats/{quote(s, safe='')}"),
    ),
    "delete_repository": (
        True,
        lambda c, s, _: c.delete(f"/v1/code/index/repositories/{quote(s, safe='')}"),
    ),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_odd_strings(
    client: httpx.AsyncClient, conn: asyncpg.Connection, seeded: Seeded, endpoint: str
) -> None:
    writes, send = ENDPOINTS[endpoint]
    problems = []
    for name, value in ODD_STRINGS.items():
        try:
            before = await table_counts(conn)
            response = await send(client, value, seeded)
            assert_handled(response)
            await assert_seed_intact(conn, seeded)
            if name in SQL_LIKE:
                # The string went in as data: every table is still there with its rows, and
                # nothing was matched by a wildcard (`%`, `_`) it should have taken literally.
                after = await table_counts(conn)
                assert writes or after == before
                if endpoint == "delete_repository":
                    assert response.status_code == 404, response.text
                if endpoint in {"list_filter", "filter_metadata", "code_lexical_seed"}:
                    assert response.status_code == 200, response.text
                    body = response.json()
                    hits = body if isinstance(body, list) else body.get("data", body.get("results"))
                    assert hits == []
        except AssertionError as exc:
            problems.append(f"{name}: {exc}")
    assert not problems, "\n".join(problems)


async def test_literal_strings_round_trip(client: httpx.AsyncClient) -> None:
    """What is stored is what was sent, byte for byte, for every storable odd string."""
    storable = {name: s for name, s in ODD_STRINGS.items() if "\u0000" not in s}
    response = await client.post(
        "/v1/events", json={"content": storable, "metadata": {"tag": storable["sql_drop"]}}
    )
    assert response.status_code == 201, response.text
    read = await client.get(f"/v1/events/{response.json()['id']}")
    assert read.json()["content"] == storable
    found = await client.post(
        "/v1/events/filter/metadata", json={"tag": "'; DROP TABLE events; --"}
    )
    assert [event["id"] for event in found.json()] == [response.json()["id"]]


# --- raw JSON: what json.dumps will not write -------------------------------------------------

DEEP = 10_000
RAW_VALUES = {
    "lone_high_surrogate": '"\\ud800"',
    "lone_low_surrogate": '"x\\udfff"',
    "surrogate_pair": '"\\ud83d\\ude00"',
    "nul_escape": '"a\\u0000b"',
    "huge_float": "1e400",
    "negative_huge_float": "-1e400",
    "huge_int": str(2**70),
    "very_huge_int": "9" * 5000,
    "nan": "NaN",
    "infinity": "Infinity",
    "deep_array": "[" * DEEP + "]" * DEEP,
    "deep_object": '{"a":' * DEEP + "1" + "}" * DEEP,
}


def raw_bodies(v: str, seed: Seeded) -> dict[str, tuple[str, str, str]]:
    """(method, path, JSON body text) with the raw value in each place a client can put it;
    a raw string is also used as a key."""
    key = v if v.startswith('"') else '"k"'
    return {
        "event_content": ("POST", "/v1/events", f'{{"content": {{{key}: {v}}}}}'),
        "event_metadata": (
            "POST",
            "/v1/events",
            f'{{"content": {{"text": "x"}}, "metadata": {{{key}: {v}}}}}',
        ),
        "event_embedding": ("POST", "/v1/events", f'{{"content": {{}}, "embedding": [{v}]}}'),
        "batch": ("POST", "/v1/events/batch", f'{{"events": [{{"content": {{"a": {v}}}}}]}}'),
        "patch_metadata": ("PATCH", f"/v1/events/{seed.event_id}/metadata", f"{{{key}: {v}}}"),
        "filter_metadata": ("POST", "/v1/events/filter/metadata", f"{{{key}: {v}}}"),
        "embedding_search": ("POST", "/v1/events/search/embedding", f"[{v}]"),
        "search": ("POST", "/v1/search", f'{{"query": {v}, "metadata": {{"a": {v}}}}}'),
        "search_limit": ("POST", "/v1/search", f'{{"query": "x", "limit": {v}}}'),
        "search_vector": ("POST", "/v1/search", f'{{"vector": [{v}]}}'),
        "code_index": (
            "POST",
            "/v1/code/index",
            f'{{"repository": {v}, "files": [{{"path": {v}, "content": {v}}}]}}',
        ),
        "code_search": (
            "POST",
            "/v1/code/search/hybrid",
            f'{{"query": {v}, "filters": {{"file_path": {v}}}, "lexical_weight": {v}}}',
        ),
        "graph_traverse": (
            "POST",
            "/v1/code/graph/traverse",
            f'{{"start_node_id": {v}, "max_depth": {v}}}',
        ),
    }


PLACES = list(raw_bodies("1", Seeded(UUID(int=0), "seed")))


@pytest.mark.parametrize("place", PLACES)
async def test_raw_json(
    client: httpx.AsyncClient, conn: asyncpg.Connection, seeded: Seeded, place: str
) -> None:
    problems = []
    for name, value in RAW_VALUES.items():
        method, path, body = raw_bodies(value, seeded)[place]
        try:
            response = await client.request(
                method, path, content=body.encode(), headers={"content-type": "application/json"}
            )
            assert_handled(response)
            await assert_seed_intact(conn, seeded)
            if name.startswith("deep") or name in {"nan", "infinity", "huge_float"}:
                # Nothing in any API takes a non-finite number or 10,000 levels of nesting (a
                # body too deep for Python's JSON parser is FastAPI's 400 "error parsing the
                # body").
                assert response.status_code in (400, 422), response.text
        except AssertionError as exc:
            problems.append(f"{name}: {exc}")
    assert not problems, "\n".join(problems)


async def test_big_integers_are_kept_exactly(client: httpx.AsyncClient) -> None:
    body = f'{{"content": {{"n": {2**70}, "m": -{2**70}}}}}'
    response = await client.post(
        "/v1/events", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["content"] == {"n": 2**70, "m": -(2**70)}


# --- query strings and path segments ---------------------------------------------------------

ODD_SEGMENTS = [
    "..",
    "%2e%2e",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "..%2f..%2f",
    "%00",
    "a%00b",
    "%ZZ",
    "%ud800",
    "%ED%A0%80",
    "%FF%FE",
    "x" * 5000,
    "00000000-0000-0000-0000-00000000000g",
    "0" * 32,
    "{event_id}",
    "%F0%9F%98%80",
    "'%3B%20DROP%20TABLE%20events%3B%20--",
]
ID_ROUTES = [
    "GET /v1/events/{}",
    "DELETE /v1/events/{}",
    "PATCH /v1/events/{}/metadata",
    "GET /v1/code/index/jobs/{}",
    "GET /v1/code/graph/chunks/{}/callers",
    "GET /v1/code/graph/chunks/{}/callees",
    "GET /v1/code/graph/stats/{}",
    "DELETE /v1/code/index/repositories/{}",
]


@pytest.mark.parametrize("route", ID_ROUTES)
async def test_odd_path_segments(
    client: httpx.AsyncClient, conn: asyncpg.Connection, seeded: Seeded, route: str
) -> None:
    method, template = route.split(" ")
    problems = []
    for segment in ODD_SEGMENTS:
        try:
            before = await table_counts(conn)
            # A raw target, so httpx sends the segment exactly as written (no normalising `..`).
            url = httpx.URL("http://test").copy_with(raw_path=template.format(segment).encode())
            body = {"a": 1} if method == "PATCH" else None
            response = await client.request(method, url, json=body)
            assert_handled(response)
            assert response.status_code != 200 or route.startswith("GET /v1/code/graph/stats")
            await assert_seed_intact(conn, seeded)
            assert await table_counts(conn) == before
        except AssertionError as exc:
            problems.append(f"{segment[:40]}: {exc}")
    assert not problems, "\n".join(problems)


# Percent-encoded, 10,000 levels would pass httpx's URL limit; 3,000 still beat Python's parser.
QUERY_DEEP = 3_000
ODD_QUERIES = [
    {"query": "a\u0000b"},
    {"query": "\u0000"},
    {"filter_metadata": '{"a\\u0000": "b"}'},
    {"filter_metadata": '{"a": "\\u0000"}'},
    {"filter_metadata": '{"a": "\\ud800"}'},
    {"filter_metadata": '{"a": 1e400}'},
    {"filter_metadata": '{"a": NaN}'},
    {"filter_metadata": "[" * QUERY_DEEP + "]" * QUERY_DEEP},
    {"filter_metadata": '{"a":' * QUERY_DEEP + "1" + "}" * QUERY_DEEP},
    {"filter_metadata": "'; DROP TABLE events; --"},
    {"vector_query": "[1e400]"},
    {"vector_query": "[NaN]"},
    {"vector_query": "[" * QUERY_DEEP + "]" * QUERY_DEEP},
    {"limit": str(2**70)},
    {"offset": "-" + "9" * 400},
    {"ts_start": "9999-99-99T99:99:99Z"},
    {"ts_start": "1e400"},
    {"ts_start": "-1e400"},
    {"ts_start": "nan"},
    {"ts_end": "0001-01-01T00:00:00-23:59"},
    {"mode": "\u0000"},
    {"distance_threshold": "NaN"},
    {"include_embedding": "\u0000"},
]


@pytest.mark.parametrize("path", ["/v1/events", "/v1/search"])
async def test_odd_query_parameters(
    client: httpx.AsyncClient, conn: asyncpg.Connection, seeded: Seeded, path: str
) -> None:
    problems = []
    before = await table_counts(conn)
    for params in ODD_QUERIES:
        try:
            response = await client.get(path, params=params)
            assert_handled(response)
            assert await table_counts(conn) == before
            await assert_seed_intact(conn, seeded)
        except AssertionError as exc:
            problems.append(f"{str(params)[:60]}: {exc}")
    assert not problems, "\n".join(problems)
