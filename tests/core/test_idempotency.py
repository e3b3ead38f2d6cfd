"""Idempotency-Key on event writes: a retry replays the first response and writes nothing."""

import asyncio
import json

import asyncpg
import pytest

from api.core.database import Database, TenantConnection, init_connection, set_tenant
from api.core.idempotency import repository
from api.core.idempotency.service import TTL, parse_key
from api.core.metrics import create_metrics
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.memory.events import service as events
from api.memory.events.schemas import EventCreate

EVENT = {"content": {"text": "deploy finished"}, "metadata": {"project": "alpha"}}
BATCH = {"events": [{"content": {"text": "one"}}, {"content": {"text": "two"}}]}


def keyed(key: str | bytes) -> dict[str, str | bytes]:
    return {"Idempotency-Key": key}


async def event_count(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM events")
    return count


async def test_retry_replays_the_first_response_and_writes_once(client, conn):
    first = await client.post("/v1/events", json=EVENT, headers=keyed("order-42"))
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = await client.post("/v1/events", json=EVENT, headers=keyed("order-42"))
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await event_count(conn) == 1


async def test_batch_retry_replays_every_id(client, conn):
    first = await client.post("/v1/events/batch", json=BATCH, headers=keyed("batch-1"))
    again = await client.post("/v1/events/batch", json=BATCH, headers=keyed("batch-1"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert len(first.json()["events"]) == 2
    assert await event_count(conn) == 2


async def test_without_a_key_every_request_writes(client, conn):
    for _ in range(2):
        response = await client.post("/v1/events", json=EVENT)
        assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert await event_count(conn) == 2


async def test_same_key_with_another_body_is_refused(client, conn):
    await client.post("/v1/events", json=EVENT, headers=keyed("k"))
    other = {**EVENT, "content": {"text": "something else"}}
    response = await client.post("/v1/events", json=other, headers=keyed("k"))
    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    # Another path with the same key is another request too.
    response = await client.post("/v1/events/batch", json={"events": [EVENT]}, headers=keyed("k"))
    assert response.json()["error"] == "idempotency_key_reused"
    assert await event_count(conn) == 1


@pytest.mark.parametrize(
    "key",
    ["", "   ", "x" * 201, "tab\there", "clé".encode("latin-1")],
    ids=["empty", "blank", "too-long", "control", "non-ascii"],
)
async def test_malformed_keys_are_refused(client, conn, key):
    response = await client.post("/v1/events", json=EVENT, headers=keyed(key))
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_idempotency_key"
    assert await event_count(conn) == 0


async def test_longest_key_is_accepted(client):
    response = await client.post("/v1/events", json=EVENT, headers=keyed("k" * 200))
    assert response.status_code == 201


async def test_a_failed_request_stores_nothing_so_the_key_stays_free(client, conn):
    bad = {**EVENT, "embedding": [0.1, 0.2]}  # wrong dimension
    response = await client.post("/v1/events", json=bad, headers=keyed("retry-me"))
    assert response.status_code == 422 and response.json()["error"] == "invalid_embedding"
    response = await client.post("/v1/events", json=EVENT, headers=keyed("retry-me"))
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert await event_count(conn) == 1


async def test_concurrent_requests_with_one_key_write_once(client, conn):
    responses = await asyncio.gather(
        *(client.post("/v1/events", json=EVENT, headers=keyed("same")) for _ in range(12))
    )
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    replays = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(replays) == 11
    assert await event_count(conn) == 1


async def _write_once(url: str, embedders, key_text: str) -> events.Outcome:
    pool = await asyncpg.create_pool(
        url, min_size=1, max_size=1, init=init_connection, connection_class=TenantConnection
    )
    try:
        key = parse_key(key_text, method="POST", path="/v1/events", body=b"{}")
        return await events.create_events(
            Database(pool, create_metrics(), tenant_id=DEFAULT_TENANT_ID),
            embedders.text,
            [EventCreate(content={"text": "x"})],
            key=key,
            text_fields=["text"],
        )
    finally:
        await pool.close()


@pytest.mark.parametrize("first_commits", [True, False])
async def test_second_request_waits_for_the_first_holder_of_the_key(
    database_url, embedders, conn, first_commits
):
    """A holder in flight blocks the second request; it replays a commit or writes after a
    rollback."""
    key = parse_key("held", method="POST", path="/v1/events", body=b"{}")
    holder = await asyncpg.connect(database_url, connection_class=TenantConnection)
    await set_tenant(holder, DEFAULT_TENANT_ID)
    try:
        transaction = holder.transaction()
        await transaction.start()
        assert await repository.claim(holder, key.key, request_hash=key.request_hash, ttl=TTL)
        second = asyncio.create_task(_write_once(database_url, embedders, "held"))
        await asyncio.sleep(0.5)
        assert not second.done()  # waiting on the holder's row
        if first_commits:
            await repository.record(
                holder, key.key, status_code=201, response_body='{"events": []}'
            )
            await transaction.commit()
        else:
            await transaction.rollback()
        outcome = await asyncio.wait_for(second, timeout=10)
    finally:
        await holder.close()
    assert outcome.replayed is first_commits
    assert await event_count(conn) == (0 if first_commits else 1)


async def test_expired_keys_are_forgotten_and_purged(client, conn):
    await conn.execute(
        "INSERT INTO idempotency_keys (key, request_hash, status_code, response_body, created_at)"
        " SELECT 'old-' || n, 'h', 201, '{}', now() - interval '25 hours'"
        " FROM generate_series(1, 5) n"
    )
    # An expired key is free again, even for another body.
    response = await client.post("/v1/events", json=EVENT, headers=keyed("old-1"))
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    keys = await conn.fetch("SELECT key FROM idempotency_keys ORDER BY key")
    assert [row["key"] for row in keys] == ["old-1"]  # the other four were purged
    assert await event_count(conn) == 1


async def test_the_key_is_stored_with_the_write(client, conn):
    response = await client.post("/v1/events", json=EVENT, headers=keyed("stored"))
    row = await conn.fetchrow(
        "SELECT status_code, response_body FROM idempotency_keys WHERE key = 'stored'"
    )
    assert row["status_code"] == 201
    assert json.loads(row["response_body"])["events"][0] == response.json()
