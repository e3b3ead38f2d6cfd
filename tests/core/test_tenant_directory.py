"""X-Tenant names resolved from a short per-process memory (TenantDirectory): what it keeps,
for how long, and what a request meets when its tenant went away in the meantime."""

import pytest

from api.core.config import Settings
from api.core.database import Database, create_pool
from api.core.metrics import Metrics
from api.core.tenancy.exceptions import TenantNotFound
from api.core.tenancy.service import TenantDirectory
from tests.conftest import AppFactory

OPERATOR = "operator-key-for-directory-tests-01"
AS_OPERATOR = {"X-API-Key": OPERATOR}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def pool(database_url: str, settings: Settings):
    created = await create_pool(database_url, settings)
    try:
        yield created
    finally:
        await created.close()


async def test_a_name_is_kept_for_the_ttl_and_read_again_after_it(pool, conn, metrics: Metrics):
    database = Database(pool, metrics)
    clock = Clock()
    directory = TenantDirectory(ttl_seconds=5, clock=clock)
    await conn.execute("INSERT INTO tenants (name) VALUES ('acme')")
    acme = await directory.named(database, "acme")

    await conn.execute("UPDATE tenants SET name = 'acme-renamed' WHERE name = 'acme'")
    clock.now += 4.9
    assert (await directory.named(database, "acme")).id == acme.id  # kept
    clock.now += 0.2
    with pytest.raises(TenantNotFound):
        await directory.named(database, "acme")  # read again: gone
    assert (await directory.named(database, "acme-renamed")).id == acme.id


async def test_forget_drops_a_name_at_once_and_unknown_names_are_never_kept(
    pool, conn, metrics: Metrics
):
    database = Database(pool, metrics)
    directory = TenantDirectory(ttl_seconds=60, clock=Clock())
    with pytest.raises(TenantNotFound):
        await directory.named(database, "later")
    await conn.execute("INSERT INTO tenants (name) VALUES ('later')")
    later = await directory.named(database, "later")  # found on its first request
    await conn.execute("DELETE FROM tenants WHERE id = $1", later.id)
    assert (await directory.named(database, "later")).id == later.id
    directory.forget("later")
    with pytest.raises(TenantNotFound):
        await directory.named(database, "later")


async def test_the_admin_routes_forget_what_they_delete(app_with: AppFactory):
    async with app_with(api_key=OPERATOR) as client:
        created = await client.post("/v1/admin/tenants", json={"name": "acme"}, headers=AS_OPERATOR)
        assert created.status_code == 201
        as_acme = {**AS_OPERATOR, "X-Tenant": "acme"}
        assert (await client.get("/v1/events", headers=as_acme)).status_code == 200
        assert (
            await client.delete("/v1/admin/tenants/acme", headers=AS_OPERATOR)
        ).status_code == 204
        gone = await client.get("/v1/events", headers=as_acme)
        assert gone.status_code == 404 and "acme" in gone.json()["detail"]


async def test_a_write_into_a_tenant_deleted_elsewhere_is_a_404_and_writes_nothing(
    app_with: AppFactory, conn
):
    """Another process deleted the tenant (here: straight in the database); this one still
    resolves its name for up to the TTL. Reads find nothing, writes are refused."""
    async with app_with(api_key=OPERATOR) as client:
        await client.post("/v1/admin/tenants", json={"name": "acme"}, headers=AS_OPERATOR)
        as_acme = {**AS_OPERATOR, "X-Tenant": "acme"}
        body = {"content": {"text": "acme's memory"}}
        assert (await client.post("/v1/events", json=body, headers=as_acme)).status_code == 201
        await conn.execute("DELETE FROM tenants WHERE name = 'acme'")

        listed = await client.get("/v1/events", headers=as_acme)
        assert listed.status_code == 200 and listed.json()["data"] == []
        refused = await client.post("/v1/events", json=body, headers=as_acme)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"] == "not_found"
        batch = await client.post("/v1/events/batch", json={"events": [body]}, headers=as_acme)
        assert batch.status_code == 404, batch.text
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM events WHERE content->>'text' = $1", "acme's memory"
        )
        == 0
    )
