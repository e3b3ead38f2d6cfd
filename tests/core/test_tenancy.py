"""Tenants, keys that carry a tenant and a role, and isolation that the database enforces."""

import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from api.core.database import (
    APP_ROLE,
    SYSTEM_ROLE,
    TenantConnection,
    init_service_connection,
    set_tenant,
)
from api.core.distributed import distributed_scope
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from tests.conftest import AppFactory

OPERATOR = "operator-key-for-tenancy-tests-0123"
AS_OPERATOR = {"X-API-Key": OPERATOR}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def new_tenant(client: httpx.AsyncClient, name: str) -> dict:
    response = await client.post("/v1/admin/tenants", json={"name": name}, headers=AS_OPERATOR)
    assert response.status_code == 201, response.text
    return response.json()


async def new_key(client: httpx.AsyncClient, tenant: str, role: str, **extra) -> dict:
    response = await client.post(
        f"/v1/admin/tenants/{tenant}/keys", json={"role": role, **extra}, headers=AS_OPERATOR
    )
    assert response.status_code == 201, response.text
    return response.json()


async def remember(client: httpx.AsyncClient, headers: dict[str, str], text: str) -> str:
    response = await client.post("/v1/events", json={"content": {"text": text}}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_tenants_are_created_listed_and_deleted_by_the_operator(app_with: AppFactory):
    async with app_with(api_key=OPERATOR) as client:
        created = await new_tenant(client, "acme")
        assert created["name"] == "acme"
        assert {"id", "name", "created_at"} <= created.keys()
        again = await client.post("/v1/admin/tenants", json={"name": "acme"}, headers=AS_OPERATOR)
        assert again.status_code == 409
        bad = await client.post("/v1/admin/tenants", json={"name": "Bad Name"}, headers=AS_OPERATOR)
        assert bad.status_code == 422

        listed = await client.get("/v1/admin/tenants", headers=AS_OPERATOR)
        assert [t["name"] for t in listed.json()["tenants"]] == ["acme", "default"]

        await remember(client, {**AS_OPERATOR, "X-Tenant": "acme"}, "acme's memory")
        gone = await client.delete("/v1/admin/tenants/acme", headers=AS_OPERATOR)
        assert gone.status_code == 204
        assert (
            await client.delete("/v1/admin/tenants/acme", headers=AS_OPERATOR)
        ).status_code == 404
        assert (
            await client.delete("/v1/admin/tenants/default", headers=AS_OPERATOR)
        ).status_code == 422
        unknown = await client.get("/v1/events", headers={**AS_OPERATOR, "X-Tenant": "acme"})
        assert unknown.status_code == 404


async def test_a_key_is_shown_once_stored_as_a_hash_and_listed_without_its_secret(
    app_with: AppFactory, conn: asyncpg.Connection
):
    async with app_with(api_key=OPERATOR) as client:
        await new_tenant(client, "acme")
        created = await new_key(client, "acme", "write", label="ci bot")
        secret = created["key"]
        assert secret.startswith("mnl_") and secret.startswith(created["prefix"])
        listed = await client.get("/v1/admin/tenants/acme/keys", headers=AS_OPERATOR)
        (key,) = listed.json()["keys"]
        assert key["prefix"] == created["prefix"] and key["label"] == "ci bot"
        assert secret not in listed.text and "secret" not in listed.text
        assert key["last_used_at"] is None

        await remember(client, bearer(secret), "first use")
        listed = await client.get("/v1/admin/tenants/acme/keys", headers=AS_OPERATOR)
        assert listed.json()["keys"][0]["last_used_at"] is not None

    await set_tenant(conn, None, all_tenants=True)
    stored = await conn.fetch("SELECT * FROM api_keys")
    assert len(stored) == 1
    assert all(secret not in str(value) for value in dict(stored[0]).values())


async def test_each_role_may_do_what_it_names_and_no_more(app_with: AppFactory):
    async with app_with(api_key=OPERATOR) as client:
        await new_tenant(client, "acme")
        read, write, admin = [
            (await new_key(client, "acme", role))["key"] for role in ("read", "write", "admin")
        ]
        event_id = await remember(client, bearer(write), "written by the write key")

        assert (await client.get(f"/v1/events/{event_id}", headers=bearer(read))).status_code == 200
        search = await client.post("/v1/search", json={"query": "written"}, headers=bearer(read))
        assert search.status_code == 200
        denied = await client.post("/v1/events", json={"content": {"t": 1}}, headers=bearer(read))
        assert denied.status_code == 403
        assert "read" in denied.json()["detail"]
        deleted = await client.delete(f"/v1/events/{event_id}", headers=bearer(read))
        assert deleted.status_code == 403

        keys = await client.get("/v1/admin/tenants/acme/keys", headers=bearer(write))
        assert keys.status_code == 403
        keys = await client.get("/v1/admin/tenants/acme/keys", headers=bearer(admin))
        assert keys.status_code == 200 and len(keys.json()["keys"]) == 3
        made = await client.post(
            "/v1/admin/tenants/acme/keys", json={"role": "read"}, headers=bearer(admin)
        )
        assert made.status_code == 201

        # No tenant role manages tenants; an admin of acme cannot see another tenant's keys.
        assert (await client.get("/v1/admin/tenants", headers=bearer(admin))).status_code == 403
        tenant = await client.post(
            "/v1/admin/tenants", json={"name": "evil"}, headers=bearer(admin)
        )
        assert tenant.status_code == 403
        other = await client.get("/v1/admin/tenants/default/keys", headers=bearer(admin))
        assert other.status_code == 404


async def test_a_revoked_or_expired_key_stops_at_once_and_a_rotated_one_is_replaced(
    app_with: AppFactory, conn: asyncpg.Connection
):
    async with app_with(api_key=OPERATOR) as client:
        await new_tenant(client, "acme")
        created = await new_key(client, "acme", "write")
        await remember(client, bearer(created["key"]), "before revocation")
        revoked = await client.delete(
            f"/v1/admin/keys/{created['id']}", headers={**AS_OPERATOR, "X-Tenant": "acme"}
        )
        assert revoked.status_code == 204
        after = await client.get("/v1/events", headers=bearer(created["key"]))
        assert after.status_code == 401

        soon = await new_key(client, "acme", "read")
        await set_tenant(conn, None, all_tenants=True)
        past = datetime.now(UTC) - timedelta(seconds=1)
        await conn.execute("UPDATE api_keys SET expires_at = $1 WHERE id = $2", past, soon["id"])
        assert (await client.get("/v1/events", headers=bearer(soon["key"]))).status_code == 401

        old = await new_key(client, "acme", "admin", label="rotating")
        rotated = await client.post(
            f"/v1/admin/keys/{old['id']}/rotate", headers=bearer(old["key"])
        )
        assert rotated.status_code == 200, rotated.text
        fresh = rotated.json()
        assert fresh["key"] != old["key"] and fresh["role"] == "admin"
        assert fresh["label"] == "rotating"
        assert (await client.get("/v1/events", headers=bearer(old["key"]))).status_code == 401
        assert (await client.get("/v1/events", headers=bearer(fresh["key"]))).status_code == 200

        for forged in ("mnl_" + "A" * 43, "mnl_short", "not-a-key"):
            assert (await client.get("/v1/events", headers=bearer(forged))).status_code == 401


async def test_a_key_acts_on_its_own_tenant_only(app_with: AppFactory):
    async with app_with(api_key=OPERATOR) as client:
        await new_tenant(client, "acme")
        await new_tenant(client, "globex")
        acme = (await new_key(client, "acme", "admin"))["key"]
        globex = (await new_key(client, "globex", "admin"))["key"]
        acme_event = await remember(client, bearer(acme), "acme's secret plan")

        assert (
            await client.get(f"/v1/events/{acme_event}", headers=bearer(globex))
        ).status_code == 404
        found = await client.post(
            "/v1/search", json={"query": "secret plan"}, headers=bearer(globex)
        )
        assert found.json()["data"] == []
        hop = await client.get("/v1/events", headers={**bearer(globex), "X-Tenant": "acme"})
        assert hop.status_code == 403
        mine = await client.get("/v1/events", headers=bearer(acme))
        assert [e["id"] for e in mine.json()["data"]] == [acme_event]
        # The operator sees acme's memory only when it asks for acme.
        default = await client.get("/v1/events", headers=AS_OPERATOR)
        assert default.json()["data"] == []
        chosen = await client.get("/v1/events", headers={**AS_OPERATOR, "X-Tenant": "acme"})
        assert [e["id"] for e in chosen.json()["data"]] == [acme_event]


async def test_without_any_key_configured_everything_is_the_default_tenant(client):
    event_id = await remember(client, {}, "zero set-up")
    listed = await client.get("/v1/events")
    assert [e["id"] for e in listed.json()["data"]] == [event_id]


async def test_a_query_that_forgets_its_tenant_filter_still_sees_one_tenant(
    database_url: str, conn: asyncpg.Connection
):
    """The service's role, with no WHERE on tenant_id: the policies alone keep tenants apart."""
    other = await conn.fetchval("INSERT INTO tenants (name) VALUES ('acme') RETURNING id")
    vector = [0.1] * 384
    for tenant_id, text in ((DEFAULT_TENANT_ID, "default's"), (other, "acme's")):
        await set_tenant(conn, tenant_id)
        await conn.execute(
            "INSERT INTO events (content, embedding) VALUES ($1, $2)",
            {"text": text},
            vector,
        )

    # As the service's checkouts do (api.core.database): the scope, and on a cluster
    # (--cluster) the transaction that carries it to the shards.
    service = await asyncpg.connect(database_url, connection_class=TenantConnection)

    @asynccontextmanager
    async def scoped(tenant_id: uuid.UUID | None, *, all_tenants: bool = False):
        await set_tenant(service, tenant_id, all_tenants=all_tenants)
        async with distributed_scope(service, tenant_id):
            yield

    try:
        await init_service_connection(service)
        assert await service.fetchval("SELECT current_user") == APP_ROLE
        async with scoped(other):
            rows = await service.fetch("SELECT content->>'text' AS text FROM events")
            assert [r["text"] for r in rows] == ["acme's"]
            assert await service.fetchval("SELECT count(*) FROM events") == 1
        # Nor can it write into, change or delete another tenant's rows.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with scoped(other):
                await service.execute(
                    "INSERT INTO events (tenant_id, content, embedding) VALUES ($1, $2, $3)",
                    DEFAULT_TENANT_ID,
                    {"text": "planted"},
                    vector,
                )
        async with scoped(other):
            deleted = await service.execute(
                "DELETE FROM events WHERE tenant_id = $1", DEFAULT_TENANT_ID
            )
            assert deleted == "DELETE 0"
        # With no tenant set, nothing at all.
        async with scoped(None):
            assert await service.fetchval("SELECT count(*) FROM events") == 0
        # System work sees every tenant's rows, and the next tenant's checkout is bound again.
        async with scoped(None, all_tenants=True):
            assert await service.fetchval("SELECT current_user") == SYSTEM_ROLE
            assert await service.fetchval("SELECT count(*) FROM events") == 2
        async with scoped(other):
            assert await service.fetchval("SELECT current_user") == APP_ROLE
            assert await service.fetchval("SELECT count(*) FROM events") == 1
        # The tenant's policy is an index condition, evaluated once per scan, not a filter
        # evaluated on every row (on a cluster: in the plan of each shard).
        async with scoped(other), service.transaction():
            await service.execute("SET LOCAL enable_seqscan = off")
            plan = [row[0] for row in await service.fetch("EXPLAIN SELECT count(*) FROM events")]
        assert any("Index Cond: (tenant_id = " in line for line in plan), plan
        assert not any("Filter:" in line and "current_setting" in line for line in plan), plan
    finally:
        await service.close()


async def test_a_key_cannot_be_made_already_expired_or_with_an_unknown_role(app_with: AppFactory):
    async with app_with(api_key=OPERATOR) as client:
        await new_tenant(client, "acme")
        for body in (
            {"role": "write", "expires_at": "2001-01-01T00:00:00Z"},
            {"role": "owner"},
            {"role": "read", "label": "x" * 201},
            {"role": "read", "secret": "chosen-by-me"},
        ):
            response = await client.post(
                "/v1/admin/tenants/acme/keys", json=body, headers=AS_OPERATOR
            )
            assert response.status_code == 422, body
        later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        made = await new_key(client, "acme", "read", expires_at=later)
        assert made["expires_at"] is not None
        assert (await client.get("/v1/events", headers=bearer(made["key"]))).status_code == 200
