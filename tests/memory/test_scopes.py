"""Event scopes (user_id, agent_id, session_id): written, read back, and exact-match filters in
listing and every search mode, combined with metadata and time, without losing rows."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from api.core.vectors.schemas import SearchTuning
from api.memory.events.schemas import EventFilters
from api.memory.search.service import nearest

BASE = datetime(2026, 3, 1, tzinfo=UTC)
SCOPES = ("user_id", "agent_id", "session_id")


async def create(client, text: str, **fields) -> dict:
    response = await client.post("/v1/events", json={"content": {"text": text}, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def search(client, **body) -> dict:
    response = await client.post("/v1/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


@pytest.fixture
async def seeded(client) -> dict[str, dict]:
    """Six billing notes on six days: alice/bob, planner/writer, s1/s2, kind even/odd."""
    events = {}
    for day in range(6):
        events[f"day{day}"] = await create(
            client,
            f"billing migration note {day}",
            metadata={"kind": "even" if day % 2 == 0 else "odd"},
            timestamp=(BASE + timedelta(days=day)).isoformat(),
            user_id="alice" if day < 3 else "bob",
            agent_id="planner" if day % 3 == 0 else "writer",
            session_id=f"s{day % 2 + 1}",
        )
    events["unscoped"] = await create(client, "billing migration without scopes")
    return events


async def test_scopes_are_stored_and_returned_everywhere(client):
    event = await create(client, "hello", user_id="u-1", agent_id="a-1", session_id="s-1")
    scopes = {"user_id": "u-1", "agent_id": "a-1", "session_id": "s-1"}
    assert {name: event[name] for name in SCOPES} == scopes
    fetched = (await client.get(f"/v1/events/{event['id']}?include_embedding=true")).json()
    assert {name: fetched[name] for name in SCOPES} == scopes
    listed = (await client.get("/v1/events")).json()["data"][0]
    assert {name: listed[name] for name in SCOPES} == scopes
    patched = await client.patch(f"/v1/events/{event['id']}/metadata", json={"k": 1})
    assert {name: patched.json()[name] for name in SCOPES} == scopes
    for mode in ("vector", "lexical", "hybrid"):
        hit = (await search(client, query="hello", mode=mode))["data"][0]
        assert {name: hit[name] for name in SCOPES} == scopes, mode
    by_vector = await client.post("/v1/events/search/embedding", json=fetched["embedding"])
    assert {name: by_vector.json()[0][name] for name in SCOPES} == scopes


async def test_batch_items_carry_their_own_scopes(client):
    batch = {
        "events": [
            {"content": {"text": "one"}, "user_id": "alice"},
            {"content": {"text": "two"}, "agent_id": "bot", "session_id": "s9"},
            {"content": {"text": "three"}},
        ]
    }
    response = await client.post("/v1/events/batch", json=batch)
    assert response.status_code == 201, response.text
    one, two, three = response.json()["events"]
    assert one["user_id"] == "alice" and "agent_id" not in one and "session_id" not in one
    assert two["agent_id"] == "bot" and two["session_id"] == "s9" and "user_id" not in two
    # An event without scopes reads as before: no scope keys at all.
    assert not set(SCOPES) & set(three)
    listed = await client.get("/v1/events", params={"session_id": "s9"})
    assert ids(listed.json()["data"]) == [two["id"]]


@pytest.mark.parametrize(
    ("scope", "value", "expected"),
    [
        ("user_id", "alice", ["day2", "day1", "day0"]),
        ("user_id", "bob", ["day5", "day4", "day3"]),
        ("agent_id", "planner", ["day3", "day0"]),
        ("session_id", "s2", ["day5", "day3", "day1"]),
        ("session_id", "nobody", []),
    ],
)
async def test_each_scope_filters_listing_and_every_search_mode(
    client, seeded, scope, value, expected
):
    want = [seeded[name]["id"] for name in expected]
    listed = await client.get("/v1/events", params={scope: value})
    assert ids(listed.json()["data"]) == want
    by_metadata = await client.post(
        "/v1/events/filter/metadata", json={}, params={scope: value, "limit": 50}
    )
    assert by_metadata.status_code == 200, by_metadata.text
    assert ids(by_metadata.json()) == want
    # Filters only: newest first, as the listing.
    assert ids((await search(client, **{scope: value}))["data"]) == want
    for mode in ("vector", "lexical", "hybrid"):
        found = await search(
            client, query="billing migration", mode=mode, limit=50, **{scope: value}
        )
        assert sorted(ids(found["data"])) == sorted(want), mode
    got = await client.get(
        "/v1/search", params={"query": "billing migration", "limit": 50, scope: value}
    )
    assert got.status_code == 200 and sorted(ids(got.json()["data"])) == sorted(want)
    vector = (await client.get(f"/v1/events/{seeded['day0']['id']}?include_embedding=true")).json()
    nearest_hits = await client.post(
        "/v1/events/search/embedding",
        json=vector["embedding"],
        params={scope: value, "limit": 50},
    )
    assert nearest_hits.status_code == 200, nearest_hits.text
    assert sorted(ids(nearest_hits.json())) == sorted(want)


async def test_scopes_combine_with_each_other_metadata_and_time(client, seeded):
    def want(*names: str) -> list[str]:
        return [seeded[name]["id"] for name in names]

    both = {"user_id": "alice", "session_id": "s1"}  # days 0 and 2
    assert ids((await client.get("/v1/events", params=both)).json()["data"]) == want("day2", "day0")
    even_bob = {"user_id": "bob", "metadata": {"kind": "even"}}  # day 4
    assert ids((await search(client, **even_bob))["data"]) == want("day4")
    window = {
        "agent_id": "writer",
        "ts_start": (BASE + timedelta(days=1)).isoformat(),
        "ts_end": (BASE + timedelta(days=4)).isoformat(),
    }  # writer on days 1, 2, 4
    for mode in ("vector", "lexical", "hybrid"):
        found = await search(client, query="billing migration", mode=mode, **window)
        assert sorted(ids(found["data"])) == sorted(want("day1", "day2", "day4")), mode
    listed = await client.get(
        "/v1/events",
        params={**window, "filter_metadata": '{"kind": "odd"}'},
    )
    assert ids(listed.json()["data"]) == want("day1")
    by_metadata = await client.post(
        "/v1/events/filter/metadata", json={"kind": "odd"}, params={"user_id": "bob"}
    )
    assert ids(by_metadata.json()) == want("day5", "day3")


def spread_vectors(count: int, dimension: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dimension))
    vectors = centres[rng.integers(0, 20, count)] + 0.6 * rng.normal(size=(count, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


async def test_a_rare_scope_loses_no_event(client, conn):
    """20 of 2,000 events are one session's: every search returns all 20 of them."""
    vectors = spread_vectors(2_000, 384, seed=11)
    events = [
        {
            "content": {"text": f"row {i} ledger"},
            "embedding": vector.tolist(),
            "session_id": "rare" if i % 100 == 0 else "common",
            "user_id": f"user-{i % 7}",
        }
        for i, vector in enumerate(vectors)
    ]
    for start in range(0, len(events), 500):
        response = await client.post(
            "/v1/events/batch", json={"events": events[start : start + 500]}
        )
        assert response.status_code == 201, response.text
    rare = {f"row {i} ledger" for i in range(0, 2_000, 100)}
    query = spread_vectors(1, 384, seed=5)[0].tolist()

    def texts(result: dict) -> set[str]:
        return {hit["content"]["text"] for hit in result["data"]}

    by_vector = await search(client, vector=query, session_id="rare", limit=50)
    assert texts(by_vector) == rare and by_vector["meta"]["strategy"] == "exact"
    hybrid = await search(client, query="ledger", vector=query, session_id="rare", limit=50)
    assert texts(hybrid) == rare
    assert (
        texts(await search(client, query="ledger", mode="lexical", session_id="rare", limit=50))
        == rare
    )
    assert texts(await search(client, session_id="rare", limit=50)) == rare
    listed = await client.get("/v1/events", params={"session_id": "rare", "limit": 50})
    assert {event["content"]["text"] for event in listed.json()["data"]} == rare

    # Through HNSW too (no exact plan): the iterative scan keeps walking until k rows pass.
    for tuning in (
        SearchTuning(exact_max_rows=5_000),
        SearchTuning(ef_search=40, exact_max_rows=0),
    ):
        found = await nearest(
            conn,
            np.asarray(query, dtype=np.float32),
            EventFilters(session_id="rare"),
            k=20,
            tuning=tuning,
        )
        assert len(found.candidates) == 20, tuning
        rows = await conn.fetch(
            "SELECT session_id FROM events WHERE id = ANY($1::uuid[])",
            [c.id for c in found.candidates],
        )
        assert {row["session_id"] for row in rows} == {"rare"}


@pytest.mark.parametrize(
    "bad",
    ["", "x" * 201, "nul\u0000inside"],
    ids=["empty", "too-long", "nul"],
)
async def test_bad_scopes_are_refused(client, bad):
    body = {"content": {"text": "x"}, "user_id": bad}
    assert (await client.post("/v1/events", json=body)).status_code == 422
    batch = {"events": [{"content": {"text": "x"}, "session_id": bad}]}
    assert (await client.post("/v1/events/batch", json=batch)).status_code == 422
    assert (await client.post("/v1/search", json={"agent_id": bad})).status_code == 422
    for path in ("/v1/events", "/v1/search"):
        response = await client.get(path, params={"user_id": bad})
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"] == "invalid_input"
    filtered = await client.post("/v1/events/filter/metadata", json={}, params={"agent_id": bad})
    assert filtered.status_code == 422
    assert (await client.get("/v1/events")).json()["data"] == []


async def test_longest_scope_is_accepted(client):
    longest = "é" * 200  # 200 characters, 400 bytes: the limit counts characters
    event = await create(client, "x", user_id=longest)
    listed = await client.get("/v1/events", params={"user_id": longest})
    assert ids(listed.json()["data"]) == [event["id"]]
