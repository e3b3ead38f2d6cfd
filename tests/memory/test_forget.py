"""`POST /v1/events/forget` (issue 17): the events matching search's filters, deleted in
batches; a dry run counts them; a second run finds nothing; another tenant's are untouched."""

import httpx
import pytest

from api.core.config import Settings
from api.core.database import Database, create_pool
from api.core.metrics import create_metrics
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.memory.events import service
from api.memory.events.schemas import ForgetRequest


async def write_many(client: httpx.AsyncClient, events: list[dict]) -> list[str]:
    response = await client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 201, response.text
    return [event["id"] for event in response.json()["events"]]


def notes(n: int, **fields) -> list[dict]:
    return [{"content": {"text": f"note {i}"}, **fields} for i in range(n)]


async def ids_left(client: httpx.AsyncClient) -> set[str]:
    page = await client.get("/v1/events", params={"limit": 100})
    return {event["id"] for event in page.json()["data"]}


async def test_a_dry_run_counts_and_the_real_run_deletes_only_the_matches(
    client: httpx.AsyncClient, theirs: httpx.AsyncClient
):
    doomed = await write_many(client, notes(4, metadata={"project": "x"}, session_id="s1"))
    other_session = await write_many(client, notes(2, metadata={"project": "x"}, session_id="s2"))
    other_project = await write_many(client, notes(2, metadata={"project": "y"}, session_id="s1"))
    their_ids = await write_many(theirs, notes(3, metadata={"project": "x"}, session_id="s1"))
    body = {"metadata": {"project": "x"}, "session_id": "s1"}

    dry = await client.post("/v1/events/forget", json={**body, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json() == {"matched": 4, "deleted": 0, "dry_run": True}
    assert set(doomed) <= await ids_left(client)

    done = await client.post("/v1/events/forget", json=body)
    assert done.json() == {"matched": 4, "deleted": 4, "dry_run": False}
    assert await ids_left(client) == set(other_session + other_project)
    again = await client.post("/v1/events/forget", json=body)
    assert again.json() == {"matched": 0, "deleted": 0, "dry_run": False}
    assert await ids_left(theirs) == set(their_ids)


async def test_a_time_window_selects_what_goes(client: httpx.AsyncClient):
    old = await write_many(client, notes(2, timestamp="2020-01-01T00:00:00Z"))
    new = await write_many(client, notes(2, timestamp="2026-01-01T00:00:00Z"))
    done = await client.post("/v1/events/forget", json={"ts_end": "2021-01-01T00:00:00Z"})
    assert done.json()["deleted"] == len(old)
    assert await ids_left(client) == set(new)


@pytest.mark.parametrize(
    "body",
    [{}, {"dry_run": True}, {"metadata": {}}, {"ts_start": "2026-02-01", "ts_end": "2026-01-01"}],
)
async def test_forgetting_without_a_filter_is_refused(client: httpx.AsyncClient, body):
    kept = await write_many(client, notes(2))
    response = await client.post("/v1/events/forget", json=body)
    assert response.status_code == 422, response.text
    assert await ids_left(client) == set(kept)


async def test_it_deletes_in_batches_and_no_more_than_matched(
    client: httpx.AsyncClient, settings: Settings
):
    await write_many(client, notes(7, user_id="u1"))
    pool = await create_pool(settings.database_url or "", settings)
    try:
        database = Database(pool, create_metrics(), tenant_id=DEFAULT_TENANT_ID)
        result = await service.forget(database, ForgetRequest(user_id="u1"), batch=3)
    finally:
        await pool.close()
    assert (result.matched, result.deleted) == (7, 7)
    assert await ids_left(client) == set()
