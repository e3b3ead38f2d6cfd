"""All SQL on tenants and api_keys. Values always travel as bind parameters.

Tenants are read and written by the operator (no tenant filter: the table is the directory of
tenants). Keys are written through a connection set to their tenant (`TENANT`, enforced again
by the api_keys policy); only the access check reads them across tenants, by secret hash."""

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from api.core.database import TENANT
from api.core.tenancy.schemas import KeyRead, StoredKey, TenantRead

TENANT_COLUMNS = "t.id, t.name, t.created_at, t.settings"
KEY_COLUMNS = (
    "k.id, k.prefix, k.role, k.label, k.created_at, k.expires_at, k.revoked_at, k.last_used_at"
)


async def insert_tenant(conn: asyncpg.Connection, name: str) -> TenantRead | None:
    """The new tenant, or None when the name is taken."""
    record = await conn.fetchrow(
        f"""
        INSERT INTO tenants AS t (name) VALUES ($1)
        ON CONFLICT (name) DO NOTHING
        RETURNING {TENANT_COLUMNS}
        """,
        name,
    )
    return None if record is None else TenantRead(**dict(record))


async def list_tenants(conn: asyncpg.Connection) -> list[TenantRead]:
    records = await conn.fetch(f"SELECT {TENANT_COLUMNS} FROM tenants t ORDER BY t.name")
    return [TenantRead(**dict(record)) for record in records]


async def count_tenants(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM tenants")
    return count


async def tenant_by_name(conn: asyncpg.Connection, name: str) -> TenantRead | None:
    record = await conn.fetchrow(f"SELECT {TENANT_COLUMNS} FROM tenants t WHERE t.name = $1", name)
    return None if record is None else TenantRead(**dict(record))


async def update_settings(
    conn: asyncpg.Connection, tenant_id: UUID, settings: dict[str, Any]
) -> TenantRead | None:
    record = await conn.fetchrow(
        f"UPDATE tenants t SET settings = $2 WHERE t.id = $1 RETURNING {TENANT_COLUMNS}",
        tenant_id,
        settings,
    )
    return None if record is None else TenantRead(**dict(record))


async def settings_of(conn: asyncpg.Connection) -> dict[str, Any]:
    """The connection's tenant's own settings."""
    value = await conn.fetchval(f"SELECT t.settings FROM tenants t WHERE t.id = {TENANT}")
    return value or {}


async def count_rows(conn: asyncpg.Connection, table: str) -> int:
    """Rows of the connection's tenant in `table` (a constant of the quota check)."""
    count: int = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = {TENANT}")
    return count


async def delete_tenant(conn: asyncpg.Connection, tenant_id: UUID) -> bool:
    """Delete a tenant and, by cascade, everything it owns."""
    deleted = await conn.fetchval("DELETE FROM tenants t WHERE t.id = $1 RETURNING t.id", tenant_id)
    return deleted is not None


async def insert_key(
    conn: asyncpg.Connection,
    *,
    prefix: str,
    secret_hash: str,
    role: str,
    label: str | None,
    expires_at: datetime | None,
) -> KeyRead:
    """A key of the connection's tenant."""
    record = await conn.fetchrow(
        f"""
        INSERT INTO api_keys AS k (tenant_id, prefix, secret_hash, role, label, expires_at)
        VALUES ({TENANT}, $1, $2, $3, $4, $5)
        RETURNING {KEY_COLUMNS}
        """,
        prefix,
        secret_hash,
        role,
        label,
        expires_at,
    )
    return KeyRead(**dict(record))


async def list_keys(conn: asyncpg.Connection) -> list[KeyRead]:
    records = await conn.fetch(
        f"SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.tenant_id = {TENANT} ORDER BY k.created_at"
    )
    return [KeyRead(**dict(record)) for record in records]


async def live_key(conn: asyncpg.Connection, key_id: UUID) -> KeyRead | None:
    """A key of the connection's tenant that is neither revoked nor expired, locked."""
    record = await conn.fetchrow(
        f"""
        SELECT {KEY_COLUMNS} FROM api_keys k
        WHERE k.tenant_id = {TENANT} AND k.id = $1 AND k.revoked_at IS NULL
          AND (k.expires_at IS NULL OR k.expires_at > now())
        FOR UPDATE
        """,
        key_id,
    )
    return None if record is None else KeyRead(**dict(record))


async def revoke_key(conn: asyncpg.Connection, key_id: UUID) -> bool:
    """Revoke a key of the connection's tenant (at once: the access check reads every request)."""
    revoked = await conn.fetchval(
        f"""
        WITH clock AS (SELECT now() AS at)  -- Citus refuses now() beside a column in SET
        UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, clock.at) FROM clock
        WHERE k.tenant_id = {TENANT} AND k.id = $1
        RETURNING k.id
        """,
        key_id,
    )
    return revoked is not None


async def key_by_hash(conn: asyncpg.Connection, secret_hash: str) -> StoredKey | None:
    """Across tenants (the access check, before the tenant is known)."""
    record = await conn.fetchrow(
        """
        SELECT k.id, k.tenant_id, t.name AS tenant_name, t.settings AS tenant_settings, k.role,
               k.expires_at, k.revoked_at, k.last_used_at
        FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
        WHERE k.secret_hash = $1
        """,
        secret_hash,
    )
    return None if record is None else StoredKey(**dict(record))


async def key_for_session(conn: asyncpg.Connection, key_id: UUID) -> tuple[StoredKey, str] | None:
    """Across tenants: a key and its secret's hash, which signs its UI sessions."""
    record = await conn.fetchrow(
        """
        SELECT k.id, k.tenant_id, t.name AS tenant_name, t.settings AS tenant_settings, k.role,
               k.expires_at, k.revoked_at, k.last_used_at, k.secret_hash
        FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
        WHERE k.id = $1
        """,
        key_id,
    )
    if record is None:
        return None
    fields = dict(record)
    secret_hash = fields.pop("secret_hash")
    return StoredKey(**fields), secret_hash


async def touch_key(conn: asyncpg.Connection, key_id: UUID, tenant_id: UUID) -> None:
    await conn.execute(
        "UPDATE api_keys k SET last_used_at = now() WHERE k.tenant_id = $1 AND k.id = $2",
        tenant_id,
        key_id,
    )
