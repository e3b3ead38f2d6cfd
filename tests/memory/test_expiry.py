"""Expiring events (issue 17): `expires_at` / `ttl_seconds` on writes; an expired event leaves
every read at once, and the purge deletes it later, tenant by tenant, in batches."""

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from api.core.config import Settings
from api.core.database import Database, create_pool
from api.core.metrics import create_metrics
from api.memory.events import expiry

SOON = "the heron leaves at dawn"
KEPT = "the heron stays all winter"


async def expire_now(conn: asyncpg.Connection, event_id: str) -> None:
    """Move an event's expiry into the past, as time would."""
    await conn.execute(
        "UPDATE events SET expires_at = now() - interval '1 second' WHERE id = $1", event_id
    )


async def write(client: httpx.AsyncClient, text: str, **fields) -> dict:
    response = await client.post(
        "/v1/events", json={"content": {"text": text}, "metadata": {"bird": "heron"}, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_an_expiring_event_says_when_and_is_read_until_then(client: httpx.AsyncClient):
    later = datetime.now(UTC) + timedelta(hours=1)
    at = await write(client, SOON, expires_at=later.isoformat())
    assert datetime.fromisoformat(at["expires_at"]) == later
    before = datetime.now(UTC)
    ttl = await write(client, SOON, ttl_seconds=3600)
    expires = datetime.fromisoformat(ttl["expires_at"])
    assert before + timedelta(seconds=3590) < expires < before + timedelta(seconds=3610)
    forever = await write(client, KEPT)
    assert "expires_at" not in forever
    got = await client.get(f"/v1/events/{ttl['id']}")
    assert got.status_code == 200 and got.json()["expires_at"] == ttl["expires_at"]


@pytest.mark.parametrize(
    "fields",
    [
        {"ttl_seconds": 0},
        {"ttl_seconds": -5},
        {"ttl_seconds": 11 * 365 * 24 * 3600},
        {"expires_at": "2001-01-01T00:00:00Z"},
        {"expires_at": "2999-01-01T00:00:00Z", "ttl_seconds": 60},
    ],
)
async def test_a_bad_expiry_is_refused(client: httpx.AsyncClient, fields):
    response = await client.post("/v1/events", json={"content": {"text": "x"}, **fields})
    assert response.status_code == 422, response.text
    assert (await client.get("/v1/events")).json()["data"] == []


async def test_an_expired_event_leaves_every_read_at_once(client: httpx.AsyncClient, conn):
    gone = await write(client, SOON, ttl_seconds=3600)
    kept = await write(client, KEPT, ttl_seconds=3600)
    await expire_now(conn, gone["id"])

    assert (await client.get(f"/v1/events/{gone['id']}")).status_code == 404
    listed = (await client.get("/v1/events")).json()["data"]
    assert [e["id"] for e in listed] == [kept["id"]]
    for mode in ("vector", "lexical", "hybrid"):
        found = await client.post("/v1/search", json={"query": "heron", "mode": mode})
        assert found.status_code == 200, found.text
        assert [e["id"] for e in found.json()["data"]] == [kept["id"]], mode
    filtered = await client.post("/v1/search", json={"metadata": {"bird": "heron"}})
    assert [e["id"] for e in filtered.json()["data"]] == [kept["id"]]
    by_metadata = await client.post("/v1/events/filter/metadata", json={"bird": "heron"})
    assert [e["id"] for e in by_metadata.json()] == [kept["id"]]
    patched = await client.patch(f"/v1/events/{gone['id']}/metadata", json={"x": 1})
    assert patched.status_code == 404
    assert (await client.delete(f"/v1/events/{gone['id']}")).status_code == 404
    # Still in the table until the purge.
    assert await conn.fetchval("SELECT count(*) FROM events WHERE id = $1", gone["id"]) == 1


async def test_the_purge_deletes_every_tenants_expired_events_in_batches(
    client: httpx.AsyncClient, theirs: httpx.AsyncClient, conn, settings: Settings
):
    ours = [await write(client, f"{SOON} {n}", ttl_seconds=60) for n in range(5)]
    mine_kept = await write(client, KEPT, ttl_seconds=3600)
    forever = await write(client, KEPT)
    other = [await write(theirs, f"{SOON} {n}", ttl_seconds=60) for n in range(3)]
    for event in ours + other:
        await expire_now(conn, event["id"])

    metrics = create_metrics()
    pool = await create_pool(settings.database_url or "", settings)
    try:
        database = Database(pool, metrics)
        assert await expiry.sweep(database, batch=2, metrics=metrics) == 8
        assert await expiry.sweep(database, batch=2, metrics=metrics) == 0
    finally:
        await pool.close()
    assert metrics.events_expired._value.get() == 8
    left = {r["id"] for r in await conn.fetch("SELECT id::text AS id FROM events")}
    assert left == {mine_kept["id"], forever["id"]}


async def test_the_service_purges_on_its_own(app_with, conn):
    async with app_with(expiry_purge_interval_seconds=0.1) as client:
        event = await write(client, SOON, ttl_seconds=60)
        await expire_now(conn, event["id"])
        for _ in range(50):
            if not await conn.fetchval("SELECT count(*) FROM events"):
                break
            await asyncio.sleep(0.1)
        assert await conn.fetchval("SELECT count(*) FROM events") == 0
        metrics = (await client.get("/metrics")).text
        assert "mnemolite_events_expired_purged_total 1.0" in metrics
