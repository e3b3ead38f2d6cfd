"""A pooled connection keeps its tenant and role across checkouts only where the pool knows them:
whatever the previous holder did, each checkout's session is the scope it asked for."""

import asyncpg
import pytest

from api.core import database as database_module
from api.core.database import APP_ROLE, SYSTEM_ROLE, Database, create_pool, set_tenant
from api.core.tenancy.schemas import DEFAULT_TENANT_ID

SESSION = "SELECT current_setting('mnemolite.tenant_id', true) AS tenant, current_user AS role"


@pytest.fixture
async def single(database_url, settings, metrics, conn):
    """A pool of one connection, so every checkout gets the previous holder's."""
    other = await conn.fetchval("INSERT INTO tenants (name) VALUES ('other') RETURNING id")
    pool = await create_pool(
        database_url, settings.model_copy(update={"db_pool_min_size": 1, "db_pool_max_size": 1})
    )
    try:
        yield Database(pool, metrics), other
    finally:
        await pool.close()


async def session_of(database: Database) -> tuple[str, str]:
    async with database.connection() as connection:
        row = await connection.fetchrow(SESSION)
    return row["tenant"], row["role"]


async def test_each_checkout_gets_the_scope_it_asks_for(single):
    database, other = single
    default = database.for_tenant(DEFAULT_TENANT_ID)
    expected = {
        "default": (str(DEFAULT_TENANT_ID), APP_ROLE),
        "other": (str(other), APP_ROLE),
        "none": ("", APP_ROLE),
        "system": ("", SYSTEM_ROLE),
    }
    scopes = {
        "default": default,
        "other": database.for_tenant(other),
        "none": database,
        "system": database.across_tenants(),
    }
    for name in ["default", "default", "other", "system", "default", "none", "none", "system"]:
        assert await session_of(scopes[name]) == expected[name], name


async def test_a_session_changed_in_a_rolled_back_transaction_is_set_back_on_release(single):
    database, other = single
    default = database.for_tenant(DEFAULT_TENANT_ID)
    with pytest.raises(RuntimeError):
        async with default.connection() as connection, connection.transaction():
            await set_tenant(connection, other)  # the rollback undoes it on the server
            raise RuntimeError
    # The pool took the scope to be `other`; the release made the server agree.
    assert await session_of(database.for_tenant(other)) == (str(other), APP_ROLE)
    assert await session_of(default) == (str(DEFAULT_TENANT_ID), APP_ROLE)


async def test_a_failed_checkout_leaves_the_scope_unknown_and_the_next_sets_it(single, monkeypatch):
    database, _ = single
    default = database.for_tenant(DEFAULT_TENANT_ID)
    assert await session_of(default) == (str(DEFAULT_TENANT_ID), APP_ROLE)
    monkeypatch.setattr(database_module, "SYSTEM_ROLE", "mnemolite_no_such_role")
    with pytest.raises(asyncpg.PostgresError):
        await session_of(database.across_tenants())
    monkeypatch.undo()
    async with database.pool.acquire() as connection:
        assert connection.scope is None  # not the default tenant it held before
        assert (await connection.fetchrow(SESSION))["tenant"] == ""  # RESET ALL on release
    assert await session_of(default) == (str(DEFAULT_TENANT_ID), APP_ROLE)


async def test_a_tenant_lookup_leaves_the_connection_set_to_the_tenant_it_served(single):
    database, other = single
    theirs = database.for_tenant(other)
    assert await session_of(theirs) == (str(other), APP_ROLE)
    async with database.tenants_table() as connection:
        assert connection.scope == (other, APP_ROLE)  # not changed: no round trip
        names = {r["name"] for r in await connection.fetch("SELECT name FROM tenants")}
    assert names == {"default", "other"}
    assert await session_of(theirs) == (str(other), APP_ROLE)
