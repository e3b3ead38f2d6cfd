"""Lexical code search ranks with BM25 over code-aware words (migration 0013), and falls back to
ts_rank where pg_textsearch is missing: both forms run here against the same database.

Skipped, with the reason, where the test database has no BM25 indexes.
"""

import time
import uuid

import asyncpg
import httpx
import pytest

from api.code.index.texts import query_words
from api.code.search import repository
from api.code.search.schemas import CodeFilters
from api.core.schema.service import lexical_ranking
from api.core.vectors.schemas import LexicalRanking

RANKINGS: tuple[LexicalRanking, ...] = ("bm25", "ts_rank")
RETRY_PY = '''\
def retry_with_backoff(operation, attempts=5):
    """Call an operation again after a failure, waiting longer each time."""
    for attempt in range(attempts):
        try:
            return operation()
        except ConnectionError:
            sleep(2 ** attempt)
    return None


def parse_http_response(raw):
    """Read the status line and the headers of an HTTP response."""
    status, _, rest = raw.partition("\\n")
    return status, rest


class ConnectionPool:
    def acquire(self):
        return self.connections.pop()

    def release(self, connection):
        self.connections.append(connection)
'''
CART_JS = """\
export function computeCartTotal(items) {
  return items.reduce((sum, item) => sum + item.price * item.quantity, 0);
}
"""


@pytest.fixture
async def bm25(conn: asyncpg.Connection) -> None:
    if await lexical_ranking(conn) != "bm25":
        pytest.skip("the test database has no BM25 indexes (pg_textsearch not available)")


async def index(client: httpx.AsyncClient, repo: str, files: dict[str, str]) -> None:
    body = {"repository": repo, "files": [{"path": p, "content": c} for p, c in files.items()]}
    response = await client.post("/v1/code/index", json=body)
    assert response.status_code == 201, response.text


@pytest.fixture
async def indexed(client: httpx.AsyncClient, bm25: None) -> httpx.AsyncClient:
    await index(client, "shop", {"net/retry.py": RETRY_PY, "web/cart.js": CART_JS})
    await index(client, "tools", {"util/retry.py": RETRY_PY})
    return client


async def lexical(client: httpx.AsyncClient, query: str, **body: object) -> dict:
    response = await client.post("/v1/code/search/lexical", json={"query": query, **body})
    assert response.status_code == 200, response.text
    result: dict = response.json()
    return result


def names(result: dict) -> list[str]:
    return [hit["qualified_name"] for hit in result["results"]]


async def ranked(
    conn: asyncpg.Connection, query: str, ranking: LexicalRanking, **filters: str
) -> list[uuid.UUID]:
    found = await repository.lexical(
        conn,
        query_words(query),
        query,
        CodeFilters(**filters),
        k=10,
        match_names=len(query.split()) <= 3,
        ranking=ranking,
    )
    return [candidate.id for candidate in found]


async def test_the_obviously_best_chunk_comes_first_and_the_ranking_is_reported(indexed):
    result = await lexical(indexed, "retry with backoff", filters={"repository": "shop"})
    assert names(result)[0] == "retry_with_backoff"
    assert result["lexical_ranking"] == "bm25"
    scores = [hit["lexical_score"] for hit in result["results"]]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    by_camel = await lexical(indexed, "cartTotal")
    assert names(by_camel)[0] == "computeCartTotal"
    by_whole_name = await lexical(indexed, "parse_http_response")
    assert names(by_whole_name)[:2] == ["parse_http_response"] * 2  # one per repository


async def test_a_docstring_sentence_finds_its_function(indexed):
    result = await lexical(
        indexed, "Read the status line and headers of a response", filters={"repository": "shop"}
    )
    assert names(result)[0] == "parse_http_response"


async def test_both_rankings_through_the_repository(conn, indexed):
    for ranking in RANKINGS:
        for query, expected in (
            ("retry backoff", "retry_with_backoff"),
            ("ConnectionPool release", "ConnectionPool.release"),
        ):
            found = await ranked(conn, query, ranking, repository="shop")
            chunks = await repository.fetch_chunks(conn, found[:1])
            assert [chunk["qualified_name"] for chunk in chunks.values()] == [expected], ranking


async def test_keywords_are_no_search_words(conn, indexed):
    """`return`, `self`, `def`, `None` stand in most Python chunks: they match none."""
    for ranking in RANKINGS:
        assert await ranked(conn, "self return", ranking, language="python") == [], ranking
    # `items` is no keyword: the JavaScript chunk that names it matches.
    assert await ranked(conn, "items", "bm25") != []


@pytest.mark.parametrize(
    ("filters", "paths"),
    [
        ({"repository": "tools"}, {"util/retry.py"}),
        ({"language": "javascript"}, {"web/cart.js"}),
        ({"chunk_type": "method"}, {"net/retry.py", "util/retry.py"}),
        ({"file_path": "util/"}, {"util/retry.py"}),
    ],
)
async def test_filters_apply(indexed, filters, paths):
    query = "retry connection release cart total items"
    result = await lexical(indexed, query, filters=filters, limit=50)
    found = {hit["file_path"] for hit in result["results"]}
    assert found and found <= paths


async def test_another_tenants_matching_chunks_never_appear(indexed, theirs):
    await index(theirs, "shop", {"their/retry.py": RETRY_PY})
    for query in ("retry with backoff", "Call an operation again after a failure"):
        for client, paths in (
            (indexed, {"net/retry.py", "util/retry.py", "web/cart.js"}),
            (theirs, {"their/retry.py"}),
        ):
            for mode, body in (
                ("lexical", {"query": query, "limit": 50}),
                ("hybrid", {"query": query, "top_k": 50}),
            ):
                response = await client.post(f"/v1/code/search/{mode}", json=body)
                found = {hit["file_path"] for hit in response.json()["results"]}
                assert found and found <= paths, (mode, query)


@pytest.mark.parametrize("query", ["the and of", "++ -- !!", "()", "🙂"])
async def test_a_query_without_words_finds_nothing_without_error(conn, indexed, query):
    for ranking in RANKINGS:
        assert await ranked(conn, query, ranking) == [], ranking
    assert (await lexical(indexed, query))["results"] == []


async def test_a_hostile_query_costs_no_more_than_a_normal_one(conn, indexed):
    hostile = "!@#$%^&*()+-=[]{};':\",./<>?\\|`~" * 330
    assert len(hostile) >= 10_000 and query_words(hostile) == ""

    async def timed(query: str) -> float:
        started = time.perf_counter()
        for _ in range(20):
            await ranked(conn, query, "bm25")
        return time.perf_counter() - started

    await timed("retry backoff")  # warm
    assert await timed(hostile) <= await timed("retry backoff")
