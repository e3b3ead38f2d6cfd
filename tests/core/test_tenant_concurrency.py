"""Two tenants writing and searching at once: nothing crosses over, nothing is lost."""

import asyncio

import httpx

from tests.conftest import AppFactory

OPERATOR = "operator-key-for-concurrency-0123456"
AS_OPERATOR = {"X-API-Key": OPERATOR}
WRITES = 30


async def tenant_key(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    await client.post("/v1/admin/tenants", json={"name": name}, headers=AS_OPERATOR)
    made = await client.post(
        f"/v1/admin/tenants/{name}/keys", json={"role": "write"}, headers=AS_OPERATOR
    )
    return {"Authorization": f"Bearer {made.json()['key']}"}


async def work(client: httpx.AsyncClient, name: str, headers: dict[str, str]) -> tuple[set, set]:
    """Write WRITES events (singles and batches), searching between writes; (written, seen)."""
    written: set[str] = set()
    seen: set[str] = set()
    for n in range(WRITES // 3):
        one = await client.post(
            "/v1/events", json={"content": {"text": f"{name} note {n}"}}, headers=headers
        )
        assert one.status_code == 201, one.text
        written.add(one.json()["id"])
        batch = await client.post(
            "/v1/events/batch",
            json={"events": [{"content": {"text": f"{name} batch {n} {i}"}} for i in range(2)]},
            headers=headers,
        )
        assert batch.status_code == 201, batch.text
        written.update(event["id"] for event in batch.json()["events"])
        for mode in ("hybrid", "vector", "lexical"):
            found = await client.post(
                "/v1/search",
                json={"query": "note batch", "mode": mode, "limit": 50},
                headers=headers,
            )
            assert found.status_code == 200, found.text
            seen.update(hit["id"] for hit in found.json()["data"])
    return written, seen


async def test_two_tenants_at_once(app_with: AppFactory):
    async with app_with(api_key=OPERATOR) as client:
        keys = {name: await tenant_key(client, name) for name in ("acme", "globex")}
        (acme_written, acme_seen), (globex_written, globex_seen) = await asyncio.gather(
            work(client, "acme", keys["acme"]), work(client, "globex", keys["globex"])
        )
        assert len(acme_written) == len(globex_written) == WRITES
        assert acme_seen <= acme_written and globex_seen <= globex_written
        for name, written in (("acme", acme_written), ("globex", globex_written)):
            listed = await client.get("/v1/events", params={"limit": 500}, headers=keys[name])
            assert {event["id"] for event in listed.json()["data"]} == written
