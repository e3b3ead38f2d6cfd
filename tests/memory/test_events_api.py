"""The events API of MnemoLite v1 (paths and field names kept), against the real database."""

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import numpy as np
import pytest

DIM = 384
EVENTS = "/v1/events"


def unit_vector(seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    vector = rng.standard_normal(DIM)
    return (vector / np.linalg.norm(vector)).tolist()


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def create(client, *, path: str = EVENTS, **body: Any) -> dict[str, Any]:
    body.setdefault("content", {"text": "something happened"})
    r = await client.post(path, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def create_batch(client, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = await client.post(f"{EVENTS}/batch", json={"events": items})
    assert r.status_code == 201, r.text
    return r.json()["events"]


async def fetch(client, event_id: str, **params: Any) -> dict[str, Any]:
    r = await client.get(f"{EVENTS}/{event_id}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def stored_embedding(client, event_id: str) -> np.ndarray:
    event = await fetch(client, event_id, include_embedding="true")
    assert len(event["embedding"]) == DIM
    return np.asarray(event["embedding"], dtype=np.float32)


async def mock_embedding(embedders, text: str) -> np.ndarray:
    return np.asarray((await embedders.text.embed_documents([text]))[0], dtype=np.float32)


async def count_events(conn) -> int:
    return await conn.fetchval("SELECT count(*) FROM events")


async def list_ids(client, **params: Any) -> list[str]:
    r = await client.get(EVENTS, params=params)
    assert r.status_code == 200, r.text
    return [event["id"] for event in r.json()["data"]]


def assert_error(r, status: int, error: str | None = None) -> Any:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "detail"}, body
    if error is not None:
        assert body["error"] == error, body
    return body["detail"]


# --- create ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EVENTS, f"{EVENTS}/"])
async def test_create_returns_the_event_without_its_vector(client, path):
    r = await client.post(path, json={"content": {"text": "hello world"}, "metadata": {"a": 1}})
    assert r.status_code == 201, r.text  # no 307 for either spelling
    event = r.json()
    assert set(event) == {"id", "timestamp", "content", "metadata"}
    assert event["content"] == {"text": "hello world"}
    assert event["metadata"] == {"a": 1}
    assert abs((datetime.now(UTC) - when(event["timestamp"])).total_seconds()) < 60
    assert "embedding" not in await fetch(client, event["id"])


async def test_embedding_is_computed_from_the_content(client, embedders):
    event = await create(client, content={"text": "the cat sat on the mat", "n": 3})
    stored = await stored_embedding(client, event["id"])
    expected = await mock_embedding(embedders, "the cat sat on the mat")
    np.testing.assert_allclose(stored, expected, atol=1e-5)


async def test_supplied_embedding_is_stored_as_given(client, embedders):
    vector = unit_vector(1)
    event = await create(client, content={"text": "ignored for the vector"}, embedding=vector)
    assert "embedding" not in event
    np.testing.assert_allclose(await stored_embedding(client, event["id"]), vector, atol=1e-6)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2024-03-01T12:30:00+02:00", datetime(2024, 3, 1, 10, 30, tzinfo=UTC)),
        ("2024-03-01T12:30:00", datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),  # naive = UTC
    ],
)
async def test_supplied_timestamp_is_stored(client, timestamp, expected):
    event = await create(client, timestamp=timestamp)
    assert when(event["timestamp"]) == expected
    assert when((await fetch(client, event["id"]))["timestamp"]) == expected


@pytest.mark.parametrize(
    ("content", "chosen"),
    [
        ({"title": "the title", "body": "the body"}, "the body"),
        ({"text": "  ", "message": "a message", "title": "t"}, "a message"),
        ({"content": "inner content", "title": "t"}, "inner content"),
        ({"title": "only title", "other": 5}, "only title"),
        ({"text": "first", "body": "second"}, "first"),
    ],
)
async def test_text_field_choice(client, embedders, content, chosen):
    event = await create(client, content=content)
    stored = await stored_embedding(client, event["id"])
    np.testing.assert_allclose(stored, await mock_embedding(embedders, chosen), atol=1e-5)


# --- batch -----------------------------------------------------------------------------------


async def test_batch_keeps_request_order_and_embeds_once(client, embedders, conn):
    items = [{"content": {"text": f"note number {i}"}, "metadata": {"i": i}} for i in range(5)]
    items[3]["embedding"] = unit_vector(3)
    before = embedders.text.stats()["batches"]
    events = await create_batch(client, items)
    assert embedders.text.stats()["batches"] == before + 1
    assert [e["metadata"]["i"] for e in events] == list(range(5))
    assert [e["content"] for e in events] == [item["content"] for item in items]
    assert len({e["id"] for e in events}) == 5
    assert all("embedding" not in e for e in events)
    assert await count_events(conn) == 5
    np.testing.assert_allclose(
        await stored_embedding(client, events[3]["id"]), items[3]["embedding"], atol=1e-6
    )
    expected = await mock_embedding(embedders, "note number 4")
    np.testing.assert_allclose(await stored_embedding(client, events[4]["id"]), expected, atol=1e-5)


async def test_batch_is_all_or_nothing(client, conn):
    items = [{"content": {"text": f"item {i}"}} for i in range(4)]
    items[2]["embedding"] = [0.1] * (DIM - 1)
    r = await client.post(f"{EVENTS}/batch/", json={"events": items})
    detail = assert_error(r, 422, "invalid_embedding")
    assert [problem["index"] for problem in detail] == [2], detail
    assert str(DIM) in detail[0]["message"]
    assert await count_events(conn) == 0


async def test_batch_invalid_item_names_its_position(client, conn):
    items = [{"content": {"text": "fine"}}, {"content": "not an object"}]
    detail = assert_error(await client.post(f"{EVENTS}/batch", json={"events": items}), 422)
    assert any(problem["field"].startswith("events.1") for problem in detail), detail
    assert await count_events(conn) == 0


async def test_batch_over_the_limit_is_413(client, conn, settings):
    items = [{"content": {"text": "x"}}] * (settings.max_batch_events + 1)
    r = await client.post(f"{EVENTS}/batch", json={"events": items})
    assert str(settings.max_batch_events) in assert_error(r, 413, "payload_too_large")
    assert await count_events(conn) == 0


async def test_empty_batch_is_422(client):
    assert_error(await client.post(f"{EVENTS}/batch", json={"events": []}), 422)


# --- get / delete ----------------------------------------------------------------------------


async def test_get_by_id_with_and_without_slash(client):
    event = await create(client, metadata={"k": "v"})
    assert await fetch(client, event["id"]) == event
    r = await client.get(f"{EVENTS}/{event['id']}/")
    assert r.status_code == 200 and r.json() == event, r.text


async def test_get_unknown_id_is_404(client):
    missing = uuid4()
    detail = assert_error(await client.get(f"{EVENTS}/{missing}"), 404, "event_not_found")
    assert str(missing) in detail


async def test_get_malformed_id_is_422(client):
    assert_error(await client.get(f"{EVENTS}/not-a-uuid"), 422)


async def test_delete_then_get_is_404(client, conn):
    event = await create(client)
    r = await client.delete(f"{EVENTS}/{event['id']}")
    assert r.status_code == 204 and r.content == b"", r.text
    assert_error(await client.get(f"{EVENTS}/{event['id']}"), 404, "event_not_found")
    assert_error(await client.delete(f"{EVENTS}/{event['id']}"), 404, "event_not_found")
    assert await count_events(conn) == 0


# --- list ------------------------------------------------------------------------------------


async def make_timeline(client) -> list[dict[str, Any]]:
    """Five events a day apart, given out of order; returned oldest first."""
    days = [3, 1, 5, 2, 4]
    items = [
        {
            "content": {"text": f"day {d}"},
            "metadata": {"day": d, "parity": "even" if d % 2 == 0 else "odd", "tags": {"x": d}},
            "timestamp": f"2024-01-0{d}T00:00:00Z",
        }
        for d in days
    ]
    events = await create_batch(client, items)
    return sorted(events, key=lambda e: e["metadata"]["day"])


async def test_list_newest_first_with_pages(client):
    timeline = await make_timeline(client)
    newest_first = [e["id"] for e in reversed(timeline)]
    r = await client.get(f"{EVENTS}/", params={"limit": 2})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [e["id"] for e in page["data"]] == newest_first[:2]
    assert page["meta"] == {"limit": 2, "offset": 0, "count": 2, "has_more": True}
    assert all("embedding" not in e for e in page["data"])
    r = await client.get(EVENTS, params={"limit": 2, "offset": 4})
    assert [e["id"] for e in r.json()["data"]] == newest_first[4:]
    assert r.json()["meta"]["has_more"] is False
    r = await client.get(EVENTS, params={"limit": 2, "offset": 2, "include_embedding": "true"})
    assert [len(e["embedding"]) for e in r.json()["data"]] == [DIM, DIM]


async def test_list_filters_metadata_and_time(client):
    timeline = await make_timeline(client)
    ids = {e["metadata"]["day"]: e["id"] for e in timeline}
    even = await list_ids(client, filter_metadata=json.dumps({"parity": "even"}))
    assert even == [ids[4], ids[2]]
    nested = await list_ids(client, filter_metadata=json.dumps({"tags": {"x": 5}}))
    assert nested == [ids[5]]
    window = {"ts_start": "2024-01-02T00:00:00Z", "ts_end": "2024-01-04T00:00:00"}
    assert await list_ids(client, **window) == [ids[4], ids[3], ids[2]]
    both = await list_ids(client, filter_metadata='{"parity": "odd"}', **window)
    assert both == [ids[3]]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"filter_metadata": "{not json"}, "filter_metadata"),
        ({"filter_metadata": "[1, 2]"}, "filter_metadata"),
        ({"filter_metadata": '"text"'}, "filter_metadata"),
        ({"ts_start": "2024-02-01T00:00:00Z", "ts_end": "2024-01-01T00:00:00Z"}, "ts_start"),
        ({"ts_start": "yesterday"}, "ts_start"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_list_rejects_bad_parameters(client, params, needle):
    detail = assert_error(await client.get(EVENTS, params=params), 422)
    assert needle in json.dumps(detail), detail


# --- patch metadata --------------------------------------------------------------------------


async def test_patch_metadata_is_a_shallow_merge(client):
    original = {"keep": 1, "replace": "old", "nested": {"a": 1, "b": 2}}
    event = await create(client, metadata=original)
    patch = {"replace": "new", "nested": {"c": 3}, "added": [1, 2]}
    r = await client.patch(f"{EVENTS}/{event['id']}/metadata", json=patch)
    assert r.status_code == 200, r.text
    expected = {"keep": 1, "replace": "new", "nested": {"c": 3}, "added": [1, 2]}
    assert r.json()["metadata"] == expected
    assert r.json()["content"] == event["content"]
    assert (await fetch(client, event["id"]))["metadata"] == expected


async def test_patch_unknown_id_is_404(client):
    r = await client.patch(f"{EVENTS}/{uuid4()}/metadata", json={"a": 1})
    assert_error(r, 404, "event_not_found")


@pytest.mark.parametrize("body", [[1, 2], "text", 3])
async def test_patch_body_must_be_an_object(client, body):
    event = await create(client, metadata={"a": 1})
    assert_error(await client.patch(f"{EVENTS}/{event['id']}/metadata", json=body), 422)
    assert (await fetch(client, event["id"]))["metadata"] == {"a": 1}


# --- filter/metadata and search/embedding ----------------------------------------------------


async def test_filter_metadata_endpoint(client):
    timeline = await make_timeline(client)
    ids = {e["metadata"]["day"]: e["id"] for e in timeline}
    r = await client.post(f"{EVENTS}/filter/metadata", json={"parity": "odd"})
    assert r.status_code == 200, r.text
    assert [e["id"] for e in r.json()] == [ids[5], ids[3], ids[1]]
    r = await client.post(f"{EVENTS}/filter/metadata/?limit=1&offset=1", json={"parity": "odd"})
    assert [e["id"] for e in r.json()] == [ids[3]]
    r = await client.post(f"{EVENTS}/filter/metadata", json={"parity": "none"})
    assert r.status_code == 200 and r.json() == []
    assert_error(await client.post(f"{EVENTS}/filter/metadata", json=[1]), 422)


async def test_search_by_embedding_orders_by_similarity(client):
    vectors = [unit_vector(seed) for seed in (10, 11, 12)]
    target = np.asarray(vectors[0])
    near = (target + 0.3 * np.asarray(vectors[1])).tolist()
    items = [{"content": {"text": f"v{i}"}, "embedding": v} for i, v in enumerate([*vectors, near])]
    events = await create_batch(client, items)
    r = await client.post(f"{EVENTS}/search/embedding", params={"limit": 3}, json=vectors[0])
    assert r.status_code == 200, r.text
    hits = r.json()
    assert len(hits) == 3
    assert [h["id"] for h in hits[:2]] == [events[0]["id"], events[3]["id"]]
    assert hits[0]["similarity_score"] == pytest.approx(1.0, abs=1e-4)
    assert hits[0]["distance"] == pytest.approx(0.0, abs=1e-4)
    scores = [h["similarity_score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    for hit in hits:
        assert hit["similarity_score"] == pytest.approx(1 - hit["distance"], abs=1e-6)
        assert "embedding" not in hit


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (json.dumps([0.1] * (DIM - 1)), str(DIM)),
        (json.dumps([1e39] + [0.1] * (DIM - 1)), "float32"),
        ("[1e400" + ", 0.1" * (DIM - 1) + "]", "finite"),  # json reads 1e400 as inf
        (json.dumps([0.0] * DIM), "zero"),
        ("[]", "at least 1"),
        ('{"vector": [0.1]}', "valid list"),
    ],
)
async def test_search_by_embedding_rejects_bad_vectors(client, raw, needle):
    await create(client)
    r = await client.post(
        f"{EVENTS}/search/embedding", content=raw, headers={"content-type": "application/json"}
    )
    detail = assert_error(r, 422)
    assert needle in json.dumps(detail), detail


@pytest.mark.parametrize(
    "timestamp",
    [
        "0001-01-01T00:00:00Z",  # asyncpg would store it as -infinity
        "9999-12-31T23:59:59.999999Z",  # ... and this one as infinity
        "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:30:00-01:00",  # after year 9999 in UTC
    ],
)
async def test_timestamps_outside_the_storable_range_are_refused(client, timestamp):
    event = {"content": {"text": "edge of time"}, "timestamp": timestamp}
    single = await client.post("/v1/events/", json=event)
    batch = await client.post("/v1/events/batch", json={"events": [event]})
    search = await client.post("/v1/search/", json={"query": "edge", "ts_start": timestamp})
    for response in (single, batch, search):
        assert response.status_code == 422, response.text
        assert "0001-01-01T00:00:00Z" in response.text
    listing = await client.post("/v1/events/filter/metadata", json={})
    assert listing.status_code == 200 and not listing.json(), "nothing was stored"


async def test_timestamps_just_inside_the_range_round_trip(client):
    for timestamp in ("0001-01-01T00:00:01Z", "9999-12-31T23:59:58Z"):
        created = await client.post(
            "/v1/events/", json={"content": {"text": "edge"}, "timestamp": timestamp}
        )
        assert created.status_code == 201, created.text
        assert created.json()["timestamp"].startswith(timestamp[:19])
