"""Tenants, their API keys, and who a request acts as.

A tenant key is `mnl_` and 43 URL-safe characters (256 random bits). Only its SHA-256 is
stored, with its first 12 characters as a prefix to recognise it by in listings. Every request
that presents one reads it again (one indexed lookup), so revoking or expiring a key takes
effect at the next request: there is no cache. `last_used_at` is written at most once a minute
per key, not on every request.
"""

import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from pydantic import ValidationError

from api.core.database import Database
from api.core.kept import Kept
from api.core.tenancy import repository
from api.core.tenancy.exceptions import (
    DefaultTenantKept,
    KeyNotFound,
    TenantExists,
    TenantNotFound,
)
from api.core.tenancy.schemas import (
    DEFAULT_TENANT,
    DEFAULT_TENANT_ID,
    OPERATOR_RANK,
    ROLE_RANK,
    KeyCreate,
    KeyCreated,
    KeyList,
    Principal,
    StoredKey,
    TenantList,
    TenantRead,
    TenantSettings,
)

log = structlog.get_logger(__name__)

KEY_MARK = "mnl_"
KEY_CHARS = len(KEY_MARK) + 43
PREFIX_CHARS = 12
TOUCH_EVERY = timedelta(minutes=1)
# How long a process keeps a tenant's name -> id (TenantDirectory), and how many names.
TENANT_NAME_TTL_SECONDS = 5.0
MAX_KEPT_NAMES = 10_000


def operator(tenant: TenantRead | None = None) -> Principal:
    """The operator acting on `tenant` (the default one unless X-Tenant names another)."""
    if tenant is None:
        return Principal(
            tenant_id=DEFAULT_TENANT_ID, tenant_name=DEFAULT_TENANT, rank=OPERATOR_RANK
        )
    return Principal(tenant_id=tenant.id, tenant_name=tenant.name, rank=OPERATOR_RANK)


def key_shaped(value: str) -> bool:
    """Whether `value` could be a tenant key at all (decided before any database read)."""
    return len(value) == KEY_CHARS and value.startswith(KEY_MARK) and value.isascii()


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


async def authenticate(database: Database, presented: str) -> Principal | None:
    """The principal of a live tenant key, or None (unknown, revoked or expired)."""
    if not key_shaped(presented):
        return None
    async with database.across_tenants().connection() as conn:
        stored = await repository.key_by_hash(conn, _hash(presented))
        if stored is None or not await _live(conn, stored):
            return None
    return _principal(stored)


async def session_key(database: Database, key_id: UUID) -> tuple[Principal, str] | None:
    """For a UI session signed in with a tenant key: its principal and the hash that signs
    the session (the key's secret's; never the secret), or None once the key is not live."""
    async with database.across_tenants().connection() as conn:
        found = await repository.key_for_session(conn, key_id)
        if found is None or not await _live(conn, found[0]):
            return None
    return _principal(found[0]), found[1]


def key_hash(secret: str) -> str:
    return _hash(secret)


async def _live(conn: asyncpg.Connection, stored: StoredKey) -> bool:
    """Neither revoked nor expired; its last use is recorded (at most once a minute)."""
    now = datetime.now(UTC)
    if stored.revoked_at is not None or (
        stored.expires_at is not None and stored.expires_at <= now
    ):
        return False
    if stored.last_used_at is None or now - stored.last_used_at >= TOUCH_EVERY:
        await repository.touch_key(conn, stored.id, stored.tenant_id)
    return True


def _principal(stored: StoredKey) -> Principal:
    return Principal(
        tenant_id=stored.tenant_id,
        tenant_name=stored.tenant_name,
        rank=ROLE_RANK[stored.role],
        key_id=stored.id,
        settings=_settings(stored.tenant_settings),
    )


def _settings(stored: dict[str, Any]) -> TenantSettings:
    """A tenant's settings; a row edited by hand into nonsense counts as none (and is logged)."""
    try:
        return TenantSettings.model_validate(stored)
    except ValidationError:
        log.warning("tenant_settings_invalid", settings=stored)
        return TenantSettings()


async def count_tenants(conn: asyncpg.Connection) -> int:
    """How many tenants there are (for /metrics; any connection: the table has no policy)."""
    return await repository.count_tenants(conn)


async def tenant_named(database: Database, name: str) -> TenantRead:
    async with database.tenants_table() as conn:
        tenant = await repository.tenant_by_name(conn, name)
    if tenant is None:
        raise TenantNotFound(name)
    return tenant


async def create_tenant(database: Database, name: str) -> TenantRead:
    async with database.across_tenants().connection() as conn:
        tenant = await repository.insert_tenant(conn, name)
    if tenant is None:
        raise TenantExists(name)
    return tenant


async def list_tenants(database: Database) -> TenantList:
    async with database.across_tenants().connection() as conn:
        return TenantList(tenants=await repository.list_tenants(conn))


async def update_settings(database: Database, name: str, settings: TenantSettings) -> TenantRead:
    """Replace a tenant's own limits (a field left out takes the service's default)."""
    tenant = await tenant_named(database, name)
    async with database.across_tenants().connection() as conn:
        updated = await repository.update_settings(
            conn, tenant.id, settings.model_dump(exclude_none=True)
        )
    if updated is None:
        raise TenantNotFound(name)
    return updated


async def delete_tenant(database: Database, name: str) -> None:
    """Delete a tenant with all it owns (events, code, jobs, keys) in one transaction."""
    if name == DEFAULT_TENANT:
        raise DefaultTenantKept()
    tenant = await tenant_named(database, name)
    async with database.across_tenants().connection() as conn, conn.transaction():
        if not await repository.delete_tenant(conn, tenant.id):
            raise TenantNotFound(name)


async def create_key(database: Database, tenant_id: UUID, request: KeyCreate) -> KeyCreated:
    async with database.for_tenant(tenant_id).connection() as conn:
        return await _new_key(conn, request)


async def rotate_key(database: Database, tenant_id: UUID, key_id: UUID) -> KeyCreated:
    """A new secret with the same role, label and expiry; the old one stops working at once."""
    async with database.for_tenant(tenant_id).connection() as conn, conn.transaction():
        old = await repository.live_key(conn, key_id)
        if old is None:
            raise KeyNotFound()
        await repository.revoke_key(conn, key_id)
        request = KeyCreate(role=old.role, label=old.label, expires_at=old.expires_at)
        return await _new_key(conn, request)


async def _new_key(conn: asyncpg.Connection, request: KeyCreate) -> KeyCreated:
    secret = KEY_MARK + secrets.token_urlsafe(32)
    stored = await repository.insert_key(
        conn,
        prefix=secret[:PREFIX_CHARS],
        secret_hash=_hash(secret),
        role=request.role,
        label=request.label,
        expires_at=request.expires_at,
    )
    return KeyCreated(
        id=stored.id,
        key=secret,
        prefix=stored.prefix,
        role=stored.role,
        label=stored.label,
        expires_at=stored.expires_at,
    )


async def list_keys(database: Database, tenant_id: UUID) -> KeyList:
    async with database.for_tenant(tenant_id).connection() as conn:
        return KeyList(keys=await repository.list_keys(conn))


async def revoke_key(database: Database, tenant_id: UUID, key_id: UUID) -> None:
    """Revoke one of the tenant's keys; another tenant's key is not found (404)."""
    async with database.for_tenant(tenant_id).connection() as conn:
        if not await repository.revoke_key(conn, key_id):
            raise KeyNotFound()


# POST routes that only read: a `read` key may call them. /mcp is one transport for tools of
# both kinds: the MCP server refuses a writing tool to a read principal itself.
READ_POSTS = frozenset(
    {
        "/mcp",
        "/v1/search",
        "/v1/events/search/embedding",
        "/v1/events/filter/metadata",
        "/v1/code/search/hybrid",
        "/v1/code/search/lexical",
        "/v1/code/search/vector",
        "/v1/code/graph/traverse",
        "/v1/code/graph/path",
    }
)
TENANTS_PATH = "/v1/admin/tenants"


def required_rank(method: str, path: str) -> int:
    """The rank a request needs: default-deny, so a new writing route needs `write` at least."""
    if path == TENANTS_PATH or (
        path.startswith(TENANTS_PATH + "/")
        and method in ("DELETE", "PATCH")
        and "/keys" not in path
    ):
        return OPERATOR_RANK
    if path.startswith("/v1/admin/"):
        return ROLE_RANK["admin"]
    if method in ("GET", "HEAD", "OPTIONS") or path in READ_POSTS:
        return ROLE_RANK["read"]
    return ROLE_RANK["write"]


class TenantDirectory(Kept[str, TenantRead]):
    """Tenants by name, as the access check resolves the operator's `X-Tenant` on each request.

    What a process read is kept for `ttl_seconds`: without it, each such request took a
    connection of its own for the lookup (0.22 ms of a 4 ms search, docs/benchmarks.md). The
    process that deletes or changes a tenant forgets its name at once (the admin routes call
    `forget`); another process of the same service may resolve a deleted tenant's name for up
    to the TTL, and then finds none of its rows (they are gone) and may write none (404, the
    tenant's foreign key: api.core.errors), and applies a changed quota up to the TTL late.
    Unknown names are not kept: a tenant created a moment ago is found on its first request.
    """

    def __init__(
        self,
        *,
        ttl_seconds: float = TENANT_NAME_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ttl_seconds=ttl_seconds, max_entries=MAX_KEPT_NAMES, clock=clock)

    async def named(self, database: Database, name: str) -> TenantRead:
        kept = self.get(name)
        if kept is not None:
            return kept
        tenant = await tenant_named(database, name)  # TenantNotFound for an unknown name
        self.put(name, tenant)
        return tenant
