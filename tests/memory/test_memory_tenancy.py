"""Tenancy in the memory domain: each tenant reads, searches, changes and counts only its own
events, and keeps its own Idempotency-Keys. Tests run without API_KEY, so `X-Tenant` picks the
operator's tenant."""

import numpy as np
import pytest

from api.core.database import Database, create_pool, set_tenant
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.core.vectors.schemas import LargeTenants, SearchTuning
from api.memory.events import service as events
from api.memory.events.schemas import EventFilters
from api.memory.search.service import nearest

OTHER = {"X-Tenant": "other"}


@pytest.fixture
async def other_tenant(conn):
    """A second tenant, `other`, beside `default`."""
    return await conn.fetchval("INSERT INTO tenants (name) VALUES ('other') RETURNING id")


async def create(client, text: str, headers=None, **fields) -> dict:
    response = await client.post(
        "/v1/events", json={"content": {"text": text}, **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_each_tenant_sees_only_its_own_events(client, conn, other_tenant):
    mine = await create(client, "billing migration in default", metadata={"p": 1}, user_id="u")
    theirs = await create(
        client, "billing migration in other", OTHER, metadata={"p": 1}, user_id="u"
    )

    for headers, own, foreign in ((None, mine, theirs), (OTHER, theirs, mine)):
        listed = await client.get("/v1/events", headers=headers)
        assert [e["id"] for e in listed.json()["data"]] == [own["id"]]
        assert (await client.get(f"/v1/events/{foreign['id']}", headers=headers)).status_code == 404
        filtered = await client.post(
            "/v1/events/filter/metadata", json={"p": 1}, params={"user_id": "u"}, headers=headers
        )
        assert [e["id"] for e in filtered.json()] == [own["id"]]
        for mode in ("vector", "lexical", "hybrid"):
            found = await client.post(
                "/v1/search", json={"query": "billing migration", "mode": mode}, headers=headers
            )
            assert [hit["id"] for hit in found.json()["data"]] == [own["id"]], mode
        found = await client.post("/v1/search", json={"metadata": {"p": 1}}, headers=headers)
        assert [hit["id"] for hit in found.json()["data"]] == [own["id"]]
        vector = (
            await client.get(f"/v1/events/{own['id']}?include_embedding=true", headers=headers)
        ).json()["embedding"]
        nearest_hits = await client.post(
            "/v1/events/search/embedding", json=vector, headers=headers
        )
        assert [hit["id"] for hit in nearest_hits.json()] == [own["id"]]
        # Another tenant's event cannot be changed or deleted: it does not exist here.
        patched = await client.patch(
            f"/v1/events/{foreign['id']}/metadata", json={"x": 1}, headers=headers
        )
        assert patched.status_code == 404
        deleted = await client.delete(f"/v1/events/{foreign['id']}", headers=headers)
        assert deleted.status_code == 404

    stored = await conn.fetch("SELECT tenant_id, metadata FROM events ORDER BY tenant_id")
    assert [row["metadata"] for row in stored] == [{"p": 1}, {"p": 1}]
    assert other_tenant in {row["tenant_id"] for row in stored}


async def test_counts_and_activity_are_the_tenants(conn, other_tenant):
    await conn.execute(
        """
        INSERT INTO events (tenant_id, content, embedding)
        SELECT $1, jsonb_build_object('n', i), array_fill(0.1, ARRAY[384])::vector
        FROM generate_series(1, 30) i
        """,
        other_tenant,
    )
    await conn.execute(
        "INSERT INTO events (content, embedding) VALUES ('{}', array_fill(0.1, ARRAY[384]))"
    )
    assert await events.count_events(conn) == (1, False)
    assert (await events.activity(conn, days=7)).total == 1
    assert await events.count_all_events(conn) == (31, False)
    await set_tenant(conn, other_tenant)
    assert await events.count_events(conn) == (30, False)
    # Above the exact count, an estimate of the tenant's rows (not of the table's).
    await conn.execute("ANALYZE events")
    assert await events.count_events(conn, exact_below=10) == (30, True)


async def test_idempotency_keys_are_per_tenant(client, conn, other_tenant):
    keyed = {"Idempotency-Key": "same-key"}
    first = await client.post("/v1/events", json={"content": {"a": 1}}, headers=keyed)
    other = await client.post("/v1/events", json={"content": {"a": 1}}, headers={**keyed, **OTHER})
    assert first.status_code == other.status_code == 201
    assert "Idempotent-Replayed" not in other.headers
    assert first.json()["id"] != other.json()["id"]
    replay = await client.post("/v1/events", json={"content": {"a": 1}}, headers={**keyed, **OTHER})
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == other.json()["id"]
    keys = await conn.fetch("SELECT tenant_id FROM idempotency_keys")
    assert len(keys) == 2


async def test_a_small_tenant_is_searched_exactly_over_its_own_rows(client, conn, other_tenant):
    """3,000 events in `default`, 12 in `other`: other's search walks only its rows, exactly."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(3_012, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    await conn.execute(
        """
        INSERT INTO events (content, embedding)
        SELECT jsonb_build_object('n', i), v::vector
        FROM unnest($1::text[]) WITH ORDINALITY AS t(v, i)
        """,
        [str(v.tolist()) for v in vectors[:3_000]],
    )
    small = [
        await create(client, f"small {i}", OTHER, embedding=v.tolist())
        for i, v in enumerate(vectors[3_000:])
    ]
    query = vectors[0]  # default's own row: the closest of all, but not other's
    expected = np.argsort(1 - vectors[3_000:] @ query)
    found = await client.post(
        "/v1/search", json={"vector": query.tolist(), "limit": 20}, headers=OTHER
    )
    body = found.json()
    assert body["meta"]["strategy"] == "exact"
    assert [hit["id"] for hit in body["data"]] == [small[i]["id"] for i in expected]

    # The default tenant, larger than the exact limit, takes the HNSW path over its rows.
    tuning = SearchTuning(exact_max_rows=100)
    own = await nearest(conn, query, None, k=5, tuning=tuning)
    assert own.strategy == "hnsw" and len(own.candidates) == 5
    await set_tenant(conn, other_tenant)
    theirs = await nearest(conn, query, None, k=5, tuning=SearchTuning())
    assert theirs.strategy == "exact"
    assert [str(c.id) for c in theirs.candidates] == [small[i]["id"] for i in expected[:5]]


async def test_a_tenant_seen_over_the_exact_limit_is_not_counted_again_for_a_while(
    conn, database_url, settings, metrics, other_tenant
):
    """The count that picks exact or HNSW is skipped for an unfiltered search of a tenant seen
    over the limit within the memory's lifetime; filtered searches and other tenants count."""
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(40, 384)).astype(np.float32)
    await conn.execute(
        """
        INSERT INTO events (content, metadata, embedding)
        SELECT jsonb_build_object('n', i), jsonb_build_object('even', i % 2 = 0), v::vector
        FROM unnest($1::text[]) WITH ORDINALITY AS t(v, i)
        """,
        [str(v.tolist()) for v in vectors],
    )
    now = [0.0]
    tuning = SearchTuning(
        exact_max_rows=30, large_tenants=LargeTenants(ttl_seconds=30, clock=lambda: now[0])
    )
    pool = await create_pool(database_url, settings)
    try:
        default = Database(pool, metrics).for_tenant(DEFAULT_TENANT_ID)

        async def strategy(database: Database, filters: EventFilters | None = None) -> str:
            async with database.connection() as service:
                found = await nearest(service, vectors[0], filters, k=5, tuning=tuning)
            return found.strategy

        assert await strategy(default) == "hnsw"  # 40 rows > 30: counted once
        assert tuning.large_tenants.holds(DEFAULT_TENANT_ID, "events")
        assert not tuning.large_tenants.holds(other_tenant, "events")
        await conn.execute("DELETE FROM events WHERE (content->>'n')::int > 20")
        assert await strategy(default) == "hnsw"  # not counted again: still taken as large
        assert await strategy(default, EventFilters(metadata={"even": True})) == "exact"
        assert await strategy(Database(pool, metrics).for_tenant(other_tenant)) == "exact"
        now[0] = 31.0
        assert await strategy(default) == "exact"  # counted again: 20 rows
        assert not tuning.large_tenants.holds(DEFAULT_TENANT_ID, "events")
    finally:
        await pool.close()
