"""Ranking by time and importance (issue 17): `recency_half_life`, `importance` and `pinned` on
a search reorder its matches by the documented formula; without them nothing changes."""

import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest

DIMENSION = 384


def vector(cosine: float) -> list[float]:
    """A unit vector at this cosine similarity to QUERY."""
    values = [0.0] * DIMENSION
    values[0], values[1] = cosine, math.sqrt(1 - cosine**2)
    return values


QUERY = vector(1.0)


async def write(client: httpx.AsyncClient, name: str, cosine: float, **fields) -> str:
    body = {"content": {"text": name}, "embedding": vector(cosine), **fields}
    response = await client.post("/v1/events", json=body)
    assert response.status_code == 201, response.text
    return response.json()["content"]["text"]


async def ranked(client: httpx.AsyncClient, **options) -> list[dict]:
    body = {"vector": QUERY, "mode": "vector", "limit": 10, **options}
    response = await client.post("/v1/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def names(hits: list[dict]) -> list[str]:
    return [hit["content"]["text"] for hit in hits]


def ago(**delta) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


async def test_recency_lifts_a_newer_match_over_an_older_closer_one(client: httpx.AsyncClient):
    await write(client, "old and close", 0.95, timestamp=ago(days=400))
    await write(client, "new and further", 0.70, timestamp=ago(minutes=1))
    assert names(await ranked(client)) == ["old and close", "new and further"]
    assert names(await ranked(client, recency_half_life="P30D")) == [
        "new and further",
        "old and close",
    ]
    # A half-life of years: 400 days barely count, the closer match stays first.
    assert names(await ranked(client, recency_half_life=20 * 365 * 86400))[0] == ("old and close")


async def test_the_score_follows_the_formula(client: httpx.AsyncClient):
    await write(client, "a day old", 0.6, timestamp=ago(days=1), importance=0.5)
    (hit,) = await ranked(client, recency_half_life="P1D", importance=1.0)
    relevance = (1 + 0.6) / 2
    # decay 0.5 after one half-life: (1 + 0.5) / 2; importance 0.5 at weight 1: 1.5
    assert hit["score"] == pytest.approx(relevance * 0.75 * 1.5, rel=1e-3)
    (plain,) = await ranked(client)
    assert plain["score"] == pytest.approx(0.6, rel=1e-5)  # similarity, as before


async def test_importance_lifts_an_important_match_and_pinned_ones_come_first(
    client: httpx.AsyncClient,
):
    await write(client, "close", 0.82)
    await write(client, "important", 0.80, importance=1.0)
    await write(client, "pinned", 0.30, pinned=True)
    assert names(await ranked(client)) == ["close", "important", "pinned"]
    assert names(await ranked(client, importance=0.5)) == ["important", "close", "pinned"]
    assert names(await ranked(client, pinned=True)) == ["pinned", "close", "important"]
    # Every mode takes them: the filter-only one ranks by them alone.
    by_filter = await client.post("/v1/search", json={"pinned": True, "importance": 1.0})
    assert names(by_filter.json()["data"]) == ["pinned", "important", "close"]


async def test_paging_a_reordered_search(client: httpx.AsyncClient):
    for n in range(6):
        await write(client, f"e{n}", 0.9 - n * 0.05, timestamp=ago(days=10 * (6 - n)))
    everything = names(await ranked(client, recency_half_life="P5D"))
    assert everything[0] == "e5"  # the newest
    pages = [
        names(await ranked(client, recency_half_life="P5D", limit=2, offset=offset))
        for offset in (0, 2, 4)
    ]
    assert [name for page in pages for name in page] == everything


async def test_importance_and_pinned_are_written_read_and_patched(client: httpx.AsyncClient):
    made = await client.post(
        "/v1/events", json={"content": {"text": "x"}, "importance": 0.25, "pinned": True}
    )
    event = made.json()
    assert (event["importance"], event["pinned"]) == (0.25, True)
    plain = (await client.post("/v1/events", json={"content": {"text": "y"}})).json()
    assert "importance" not in plain and "pinned" not in plain

    patched = await client.patch(f"/v1/events/{plain['id']}", json={"importance": 0.9})
    assert patched.status_code == 200, patched.text
    assert patched.json()["importance"] == pytest.approx(0.9) and "pinned" not in patched.json()
    pinned = await client.patch(f"/v1/events/{plain['id']}", json={"pinned": True})
    assert pinned.json()["pinned"] is True and pinned.json()["importance"] == pytest.approx(0.9)
    cleared = await client.patch(f"/v1/events/{plain['id']}", json={"importance": None})
    assert "importance" not in cleared.json() and cleared.json()["pinned"] is True
    unchanged = await client.patch(f"/v1/events/{plain['id']}", json={})
    assert unchanged.status_code == 200 and unchanged.json()["pinned"] is True

    unknown = "0190a0f0-0000-7000-8000-000000000000"
    assert (await client.patch(f"/v1/events/{unknown}", json={"pinned": True})).status_code == 404


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/events", {"content": {"text": "x"}, "importance": 1.5}),
        ("/v1/events", {"content": {"text": "x"}, "importance": -0.1}),
        ("/v1/search", {"query": "x", "recency_half_life": "P0D"}),
        ("/v1/search", {"query": "x", "recency_half_life": "-P1D"}),
        ("/v1/search", {"query": "x", "recency_half_life": "soon"}),
        ("/v1/search", {"query": "x", "importance": 2}),
    ],
)
async def test_out_of_range_values_are_refused(client: httpx.AsyncClient, path, body):
    response = await client.post(path, json=body)
    assert response.status_code == 422, response.text
