"""Event search through the API and the service, on the real database with the mock embedder."""

import base64
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from api.core.vectors.schemas import SearchTuning
from api.memory.events.schemas import EventFilters
from api.memory.search.service import nearest

NOTES = [
    "the billing migration moved invoices to the new ledger",
    "we decided to postpone the billing migration until march",
    "deploy failed with error ERR-4312 in the payments worker",
    "the cat sat on the mat near the window",
    "lunch order for the team offsite: pizza and salad",
]


async def create(client, text: str, **fields) -> dict:
    response = await client.post("/v1/events", json={"content": {"text": text}, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def search(client, **body) -> dict:
    response = await client.post("/v1/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_vector_search_ranks_closest_meaning_first(client):
    ids = {text: (await create(client, text))["id"] for text in NOTES}
    result = await search(client, query="billing migration ledger", mode="vector", limit=3)
    hits = result["data"]
    assert hits[0]["id"] == ids[NOTES[0]]
    assert {hit["id"] for hit in hits[:2]} == {ids[NOTES[0]], ids[NOTES[1]]}
    distances = [hit["distance"] for hit in hits]
    assert distances == sorted(distances)
    for hit in hits:
        assert hit["similarity_score"] == pytest.approx(1 - hit["distance"], abs=1e-6)
        assert "embedding" not in hit
    assert result["meta"]["mode"] == "vector"


async def test_lexical_search_finds_exact_token_and_stems(client):
    ids = {text: (await create(client, text))["id"] for text in NOTES}
    exact = await search(client, query="ERR-4312", mode="lexical")
    assert [hit["id"] for hit in exact["data"]] == [ids[NOTES[2]]]
    stemmed = await search(client, query="migrations", mode="lexical")
    assert {hit["id"] for hit in stemmed["data"]} == {ids[NOTES[0]], ids[NOTES[1]]}
    nothing = await search(client, query="zebra", mode="lexical")
    assert nothing["data"] == [] and nothing["meta"]["total_hits"] == 0


async def test_hybrid_fuses_both_rankings(client):
    ids = {text: (await create(client, text))["id"] for text in NOTES}
    result = await search(client, query="billing migration", mode="hybrid", limit=5)
    top = result["data"][0]
    assert top["id"] in {ids[NOTES[0]], ids[NOTES[1]]}
    assert set(top["ranks"]) == {"vector", "lexical"}
    scores = [hit["score"] for hit in result["data"]]
    assert scores == sorted(scores, reverse=True)
    # Found by both, each list's scaled score at most 1, weighted 0.5 each.
    assert 0 < top["score"] <= 1.0
    assert result["meta"]["mode"] == "hybrid"
    for hit in result["data"]:  # every hit, lexical-only ones too, carries its vector distance
        assert 0 <= hit["distance"] <= 2
        assert hit["similarity_score"] == pytest.approx(1 - hit["distance"])
        assert "embedding" not in hit


async def test_hybrid_hits_carry_their_embedding_when_asked(client):
    for text in NOTES:
        await create(client, text)
    plain = await search(client, query="billing migration", mode="hybrid", limit=3)
    result = await search(
        client, query="billing migration", mode="hybrid", limit=3, include_embedding=True
    )
    assert [hit["id"] for hit in result["data"]] == [hit["id"] for hit in plain["data"]]
    for hit in result["data"]:
        assert len(hit["embedding"]) == 384
        assert set(hit["ranks"]) <= {"vector", "lexical"}


async def test_filters_restrict_every_mode(client):
    for text in NOTES:
        await create(client, text, metadata={"project": "alpha"})
    kept = await create(client, NOTES[1], metadata={"project": "beta"})
    for mode in ("vector", "lexical", "hybrid"):
        result = await search(
            client, query="billing migration", mode=mode, metadata={"project": "beta"}
        )
        assert [hit["id"] for hit in result["data"]] == [kept["id"]], mode


async def test_metadata_only_and_time_window(client):
    base = datetime(2026, 1, 1, tzinfo=UTC)
    created = []
    for day in range(6):
        event = await create(
            client,
            f"note {day}",
            metadata={"kind": "even" if day % 2 == 0 else "odd"},
            timestamp=(base + timedelta(days=day)).isoformat(),
        )
        created.append(event["id"])
    result = await search(client, metadata={"kind": "even"})
    assert result["meta"]["mode"] == "filter"
    assert [hit["id"] for hit in result["data"]] == [created[4], created[2], created[0]]
    window = await search(
        client,
        ts_start=(base + timedelta(days=1)).isoformat(),
        ts_end=(base + timedelta(days=3)).isoformat(),
    )
    assert [hit["id"] for hit in window["data"]] == [created[3], created[2], created[1]]
    assert window["meta"]["total_hits"] == 3 and window["meta"]["has_more"] is False


async def test_distance_threshold_drops_far_matches(client):
    for text in NOTES:
        await create(client, text)
    loose = await search(client, query="billing migration", mode="vector", limit=5)
    cutoff = loose["data"][1]["distance"] + 1e-6
    tight = await search(
        client, query="billing migration", mode="vector", limit=5, distance_threshold=cutoff
    )
    assert [hit["id"] for hit in tight["data"]] == [hit["id"] for hit in loose["data"][:2]]


async def test_distance_threshold_applies_to_both_halves_of_hybrid(client):
    near = await create(client, "billing migration ledger invoices")
    far = await create(client, "lunch pizza salad offsite drinks music billing")
    loose = await search(client, query="billing", mode="hybrid", limit=5)
    assert {hit["id"] for hit in loose["data"]} == {near["id"], far["id"]}
    cutoff = (loose["data"][0]["distance"] + loose["data"][1]["distance"]) / 2
    tight = await search(client, query="billing", mode="hybrid", distance_threshold=cutoff)
    kept = min(loose["data"], key=lambda hit: hit["distance"])
    assert [hit["id"] for hit in tight["data"]] == [kept["id"]]
    assert all(hit["distance"] <= cutoff for hit in tight["data"])


async def test_pagination_is_consistent(client):
    for index in range(12):
        await create(client, f"billing report number {index} for the ledger")
    first = await search(client, query="billing ledger", mode="vector", limit=8)
    page = await search(client, query="billing ledger", mode="vector", limit=4, offset=4)
    assert [h["id"] for h in page["data"]] == [h["id"] for h in first["data"][4:8]]
    assert page["meta"]["has_more"] is True and page["meta"]["total_hits"] is None
    last = await search(client, query="billing ledger", mode="vector", limit=10, offset=10)
    assert len(last["data"]) == 2 and last["meta"]["total_hits"] == 12
    beyond = await search(client, query="billing ledger", mode="vector", limit=10, offset=50)
    assert beyond["data"] == [] and beyond["meta"]["total_hits"] is None


async def test_get_search_accepts_v1_parameters(client, embedders):
    ids = {text: (await create(client, text))["id"] for text in NOTES}
    vector = (await embedders.text.embed_query(NOTES[3])).tolist()
    encoded = base64.b64encode(json.dumps(vector).encode()).decode()
    for value in (encoded, json.dumps(vector)):
        response = await client.get("/v1/search/", params={"vector_query": value, "limit": 1})
        assert response.status_code == 200, response.text
        assert response.json()["data"][0]["id"] == ids[NOTES[3]]
        assert response.json()["data"][0]["similarity_score"] == pytest.approx(1.0, abs=1e-5)
    as_text = await client.get("/v1/search", params={"vector_query": "ERR-4312", "mode": "lexical"})
    assert as_text.json()["data"][0]["id"] == ids[NOTES[2]]
    filtered = await client.get(
        "/v1/search", params={"filter_metadata": json.dumps({"none": 1}), "query": "cat"}
    )
    assert filtered.status_code == 200 and filtered.json()["data"] == []


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"filter_metadata": "{not json"}, "filter_metadata"),
        ({"filter_metadata": "[1, 2]"}, "filter_metadata"),
        ({"vector_query": "[1, 2, 3]"}, "384"),
        ({"vector_query": '["a", "b"]'}, "numbers"),
        ({"ts_start": "yesterday"}, "ts_start"),
        ({"ts_start": "2026-02-01T00:00:00Z", "ts_end": "2026-01-01T00:00:00Z"}, "ts_start"),
        ({"limit": "0"}, "limit"),
        ({"mode": "fuzzy"}, "mode"),
    ],
)
async def test_get_search_rejects_bad_input(client, params, needle):
    response = await client.get("/v1/search", params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] in {"invalid_input", "invalid_embedding"}
    assert needle in json.dumps(body["detail"])


async def test_post_search_rejects_bad_input(client):
    cases = [
        {"vector": [0.1] * 3},
        {"query": "x", "mode": "lexical", "vector": None, "unknown": 1},
        {"vector": [0.1] * 384, "mode": "lexical"},
        {"query": "x" * 5000},
        {"limit": 1000},
    ]
    for body in cases:
        response = await client.post("/v1/search", json=body)
        assert response.status_code == 422, (body, response.text)


def spread_vectors(count: int, dimension: int, seed: int) -> np.ndarray:
    """Clustered unit vectors: closer to real embeddings than uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dimension))
    vectors = centres[rng.integers(0, 20, count)] + 0.6 * rng.normal(size=(count, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("exact_max_rows", [5_000, 0], ids=["exact-plan", "hnsw-iterative"])
async def test_selective_filter_returns_true_top_k(client, conn, exact_max_rows):
    """1% of rows match: both plans must return the exact top 10 of those rows."""
    vectors = spread_vectors(2_000, 384, seed=7)
    events = [
        {
            "content": {"text": f"row {i}"},
            "metadata": {"rare": i % 100 == 0},
            "embedding": v.tolist(),
        }
        for i, v in enumerate(vectors)
    ]
    for start in range(0, len(events), 500):
        response = await client.post(
            "/v1/events/batch", json={"events": events[start : start + 500]}
        )
        assert response.status_code == 201, response.text
    query = spread_vectors(1, 384, seed=99)[0]
    rare = np.array([i for i in range(len(vectors)) if i % 100 == 0])
    expected = rare[np.argsort(1 - vectors[rare] @ query)[:10]]
    expected_text = [f"row {i}" for i in expected]

    tuning = SearchTuning(ef_search=40, exact_max_rows=exact_max_rows)
    found = await nearest(conn, query, EventFilters(metadata={"rare": True}), k=10, tuning=tuning)
    assert found.strategy == ("exact" if exact_max_rows else "hnsw")
    texts = await conn.fetch(
        "SELECT id, content->>'text' AS text FROM events WHERE id = ANY($1::uuid[])",
        [c.id for c in found.candidates],
    )
    by_id = {row["id"]: row["text"] for row in texts}
    got = [by_id[c.id] for c in found.candidates]
    if exact_max_rows:
        assert got == expected_text
    else:  # approximate, but nothing lost to post-filtering
        assert len(got) == 10 and len(set(got) & set(expected_text)) >= 9
