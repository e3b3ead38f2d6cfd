"""All SQL on idempotency_keys, each key the connection's tenant's. Values always travel as
bind parameters."""

from datetime import timedelta

import asyncpg
from pydantic import BaseModel

from api.core.database import TENANT


class StoredKey(BaseModel):
    request_hash: str
    status_code: int | None
    response_body: str | None


async def find(conn: asyncpg.Connection, key: str, *, ttl: timedelta) -> StoredKey | None:
    """The committed, unexpired row of `key`, if any."""
    record = await conn.fetchrow(
        f"""
        SELECT k.request_hash, k.status_code, k.response_body FROM idempotency_keys k
        WHERE k.tenant_id = {TENANT} AND k.key = $1 AND k.created_at >= now() - $2::interval
        """,
        key,
        ttl,
    )
    return StoredKey(**dict(record)) if record else None


async def claim(conn: asyncpg.Connection, key: str, *, request_hash: str, ttl: timedelta) -> bool:
    """Take `key` for this transaction (call inside one); False when another request holds it.

    A concurrent transaction that inserted the same key makes this statement wait until it
    commits (then False) or rolls back (then True). An expired row is taken over in place.
    The clock is the new row's `created_at` (its default, now()): Citus takes no function but
    IMMUTABLE ones in an upsert's DO UPDATE.
    """
    claimed = await conn.fetchval(
        f"""
        INSERT INTO idempotency_keys AS k (tenant_id, key, request_hash) VALUES ({TENANT}, $1, $2)
        ON CONFLICT (tenant_id, key) DO UPDATE
        SET request_hash = excluded.request_hash, status_code = NULL, response_body = NULL,
            created_at = excluded.created_at
        WHERE excluded.created_at - k.created_at > $3::interval
        RETURNING k.key
        """,
        key,
        request_hash,
        ttl,
    )
    return claimed is not None


async def record(
    conn: asyncpg.Connection, key: str, *, status_code: int, response_body: str
) -> None:
    await conn.execute(
        f"""
        UPDATE idempotency_keys k SET status_code = $2, response_body = $3
        WHERE k.tenant_id = {TENANT} AND k.key = $1
        """,
        key,
        status_code,
        response_body,
    )


async def purge(conn: asyncpg.Connection, *, ttl: timedelta, limit: int) -> int:
    """Delete up to `limit` of the tenant's expired keys, oldest first, skipping rows another
    writer holds. (A tenant's expired keys go when it writes again; until then they only take
    room: `find` ignores them and `claim` takes them over.)"""
    deleted = await conn.fetch(
        f"""
        DELETE FROM idempotency_keys d
        WHERE d.tenant_id = {TENANT} AND d.key IN (
            SELECT k.key FROM idempotency_keys k
            WHERE k.tenant_id = {TENANT} AND k.created_at < now() - $1::interval
            ORDER BY k.created_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        )
        RETURNING d.key
        """,
        ttl,
        limit,
    )
    return len(deleted)
