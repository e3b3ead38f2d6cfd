"""Lexical event search ranks with BM25 (pg_textsearch, migration 0013), and falls back to
ts_rank where the extension is missing: both forms run here against the same database.

Skipped, with the reason, where the test database has no BM25 indexes (a TEST_DATABASE_URL
server without pg_textsearch, or `make install` without ../shared/vendor).
"""

import uuid

import asyncpg
import httpx
import pytest

from api.core.schema.service import lexical_ranking
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.core.vectors.schemas import LexicalRanking
from api.memory.events.schemas import EventFilters
from api.memory.search.repository import lexical_matches

RANKINGS: tuple[LexicalRanking, ...] = ("bm25", "ts_rank")
NOTES = {
    "support": "Caroline went to the LGBTQ support group on Tuesday and felt welcome there",
    "painting": "Melanie painted a sunrise over the lake with her kids last weekend",
    "adoption": "Caroline is researching adoption agencies; she wants to give a child a home",
    "camping": "Melanie and her family went camping at the beach in July",
    "career": "Caroline plans a career in counseling to support people like her",
}


@pytest.fixture
async def bm25(conn: asyncpg.Connection) -> None:
    if await lexical_ranking(conn) != "bm25":
        pytest.skip("the test database has no BM25 indexes (pg_textsearch not available)")


async def create(client: httpx.AsyncClient, text: str, **fields: object) -> str:
    response = await client.post("/v1/events", json={"content": {"text": text}, **fields})
    assert response.status_code == 201, response.text
    event_id: str = response.json()["id"]
    return event_id


async def stored(client: httpx.AsyncClient, **fields: object) -> dict[str, str]:
    return {name: await create(client, text, **fields) for name, text in NOTES.items()}


async def lexical(client: httpx.AsyncClient, query: str, **body: object) -> dict:
    response = await client.post("/v1/search", json={"query": query, "mode": "lexical", **body})
    assert response.status_code == 200, response.text
    result: dict = response.json()
    return result


def ids(result: dict) -> list[str]:
    return [hit["id"] for hit in result["data"]]


async def test_the_service_ranks_with_bm25_and_says_so(client, bm25):
    found = await stored(client)
    result = await lexical(client, "Caroline support group")
    assert ids(result)[0] == found["support"]
    assert result["meta"]["lexical_ranking"] == "bm25"
    scores = [hit["score"] for hit in result["data"]]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    health = (await client.get("/health")).json()
    assert health["services"]["search"] == {"lexical_ranking": "bm25"}


async def test_a_natural_question_finds_its_answer(client, bm25):
    """Any word counts: the web-search form of ts_rank needed every word and found nothing."""
    found = await stored(client)
    question = "When did Caroline go to the LGBTQ support group?"
    result = await lexical(client, question)
    assert ids(result)[0] == found["support"]
    assert len(result["data"]) >= 3  # "Caroline" and "support" match more notes, ranked lower
    hybrid = (await client.post("/v1/search", json={"query": question, "mode": "hybrid"})).json()
    assert hybrid["meta"]["lexical_ranking"] == "bm25"
    ranks = {hit["id"]: hit["ranks"] for hit in hybrid["data"]}
    assert ranks[found["support"]]["lexical"] == 1


async def test_both_rankings_through_the_repository(conn, client, bm25):
    found = await stored(client)
    for ranking in RANKINGS:
        best = await lexical_matches(conn, "adoption agencies", None, k=5, ranking=ranking)
        assert [c.id for c in best][:1] == [uuid.UUID(found["adoption"])], ranking
        # The fallback's web-search form needs every word; BM25 takes any of them.
        question = await lexical_matches(
            conn, "Which agencies did Caroline call?", None, k=5, ranking=ranking
        )
        if ranking == "bm25":
            assert question[0].id == uuid.UUID(found["adoption"])
        else:
            assert question == []


async def test_filters_apply_and_pages_follow_each_other(conn, client, bm25):
    beta = await stored(client, metadata={"project": "beta"})
    alpha = await create(client, NOTES["support"], metadata={"project": "alpha"})
    filters = EventFilters(metadata={"project": "alpha"})
    for ranking in RANKINGS:
        kept = await lexical_matches(conn, "support group", filters, k=10, ranking=ranking)
        assert [str(c.id) for c in kept] == [alpha], ranking
    result = await lexical(client, "Caroline", metadata={"project": "beta"}, limit=2)
    second = await lexical(client, "Caroline", metadata={"project": "beta"}, limit=2, offset=2)
    assert result["meta"]["has_more"] is True
    caroline = {beta[name] for name in ("support", "adoption", "career")}
    assert set(ids(result)) | set(ids(second)) == caroline
    assert not set(ids(result)) & set(ids(second))


async def test_another_tenants_matching_rows_never_appear(client, theirs, bm25):
    mine = set((await stored(client)).values())
    their_support = await create(theirs, "Caroline support group minutes: the other tenant")
    for query in ("Caroline support group", "When did Caroline go to the support group?"):
        for search_as, expected in ((client, mine), (theirs, {their_support})):
            for mode in ("lexical", "hybrid"):
                response = await search_as.post(
                    "/v1/search", json={"query": query, "mode": mode, "limit": 50}
                )
                found = set(ids(response.json()))
                assert found and found <= expected, (mode, query)


@pytest.mark.parametrize("query", ["the and of", "++ -- !!", "???", "🙂"])
async def test_a_query_without_words_finds_nothing_without_error(conn, client, bm25, query):
    await stored(client)
    for ranking in RANKINGS:
        assert await lexical_matches(conn, query, None, k=10, ranking=ranking) == []
    result = await lexical(client, query)
    assert result["data"] == [] and result["meta"]["total_hits"] == 0


async def test_a_hostile_query_finds_nothing_and_the_longest_query_works(conn, client, bm25):
    """10k characters of punctuation match nothing, in either ranking, without error; the API
    bounds a query at 2,000 characters and turns a NUL into a 422
    (tests/core/test_hostile_input.py)."""
    await stored(client)
    hostile = "!@#$%^&*()_+-=[]{};':\",./<>?\\|`~" * 320
    assert len(hostile) >= 10_000
    for ranking in RANKINGS:
        assert await lexical_matches(conn, hostile, None, k=10, ranking=ranking) == []
    long_words = " ".join(["support"] * 250)  # the API's longest query, of words
    assert (await lexical(client, long_words[:2000]))["data"]
    nul = await client.post("/v1/search", json={"query": "support\u0000group", "mode": "lexical"})
    assert nul.status_code == 422


# Each plan the planner may choose for a BM25 statement, forced: the ordered BM25 scan (where
# the score comes from the scan) and a sort of the filtered rows (where it must be computed).
PLANS = {
    "bm25 scan": "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; "
    "SET LOCAL enable_sort = off",
    "sort": "SET LOCAL enable_indexscan = off",
}


async def direct_scores(conn: asyncpg.Connection, query: str) -> dict[uuid.UUID, float]:
    """Every event's BM25 score, computed row by row by pg_textsearch's operator."""
    records = await conn.fetch(
        "SELECT id, -(lexical_text <@> to_bm25query($1, 'events_lexical_bm25')) AS score "
        "FROM events WHERE tenant_id = $2",
        query,
        DEFAULT_TENANT_ID,
    )
    return {r["id"]: r["score"] for r in records if r["score"] > 0}


@pytest.mark.parametrize("plan", PLANS)
async def test_scores_are_bm25s_whichever_plan_reads_the_rows(conn, client, bm25, plan):
    """The scan's own score (`bm25_get_current_score()`) is used only where the scan produced
    the row; under a sort it would be one stale value on every row, and the rows are scored
    again (api/core/lexical/repository.py). Either way: the operator's scores, in order."""
    await stored(client)
    for extra in range(12):  # enough rows that "support" ranks by more than one score
        await create(client, f"support note {extra} " + "filler " * extra)
    query = "Caroline support group"
    expected = await direct_scores(conn, query)
    best = sorted(expected.items(), key=lambda item: (-item[1], item[0]))[:8]
    async with conn.transaction():
        await conn.execute(PLANS[plan])
        found = await lexical_matches(conn, query, None, k=8, ranking="bm25")
        # The next page continues the same order.
        second = await lexical_matches(conn, query, None, k=4, offset=4, ranking="bm25")
    assert [c.id for c in found] == [event_id for event_id, _ in best]
    assert [c.score for c in found] == pytest.approx([score for _, score in best], rel=1e-4)
    assert [c.id for c in second] == [c.id for c in found[4:8]]
