"""The asyncpg pool, the database URL resolution and the per-request connection dependency.

Tenancy lives on the connection: `Database.connection()` sets `mnemolite.tenant_id` and the
role before handing a connection out (TenantConnection says how a pooled one keeps them).
Repositories filter on `TENANT`, that setting; the Row-Level Security policies of migration
0011 enforce it again, because tenant work runs as the role APP_ROLE, which owns no table. The
few cross-tenant system queries run as SYSTEM_ROLE, whose policy admits every row; a policy of
one plain comparison lets the planner use it as an index condition, evaluated once per scan
instead of once per row.
"""

import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
from fastapi import Depends, Request
from pgvector.asyncpg import register_vector

from api.core.config import Settings
from api.core.distributed import distributed_scope
from api.core.errors import DATABASE_UNAVAILABLE, DatabaseUnavailable
from api.core.local_postgres import ensure_database, start_embedded_server
from api.core.metrics import Metrics
from api.core.replication.service import ReadReplicas

# A request fails fast with 503 rather than hang when the database is away: opening a
# connection may take CONNECT_TIMEOUT_SECONDS (asyncpg's default is 60), and waiting for one
# from the pool ACQUIRE_TIMEOUT_SECONDS (the default is for ever), connect included.
CONNECT_TIMEOUT_SECONDS = 5.0
ACQUIRE_TIMEOUT_SECONDS = 10.0

# The roles the service works as (created by migration 0011, granted data access, owning no
# table, so the tables' policies apply to them): one tenant's work, and system work.
APP_ROLE = "mnemolite_app"
SYSTEM_ROLE = "mnemolite_system"
SERVICE_ROLES = (APP_ROLE, SYSTEM_ROLE)
# The connection's tenant in SQL: every tenant-scoped query compares tenant_id with it.
TENANT = "nullif(current_setting('mnemolite.tenant_id', true), '')::uuid"


def tenant_is(alias: str, named: UUID | None = None) -> str:
    """SQL comparing `alias`.tenant_id with the connection's tenant: `TENANT`, or, given the
    connection's own tenant as `named`, that tenant as a constant.

    A statement that names its tenant is planned for that tenant's rows (one of 100k rows, not
    the average tenant's), and each row it reads is compared with a constant rather than with
    the setting, which PostgreSQL evaluates again on every row (0.3 ms per 1,000 rows read);
    the policy's own comparison with the setting then runs once per statement. Such a statement
    is prepared for that tenant alone, so only tenants known to be large are named, and every
    other tenant shares one prepared statement. Naming any tenant but the connection's finds
    nothing: the policy still compares every row with the setting.
    """
    if named is None:
        return f"{alias}.tenant_id = {TENANT}"
    if not isinstance(named, UUID):
        raise TypeError(f"a tenant is named by its UUID, not {type(named).__name__}")
    return f"{alias}.tenant_id = '{named}'::uuid"


# Where the access check leaves the request's Principal (api.core.tenancy.schemas): in the
# request's own scope, never in the lifespan state that every request shares.
PRINCIPAL_SCOPE_KEY = "mnemolite.principal"


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL when set; otherwise start the embedded server and use its database.

    Blocking (may run initdb): call it from a thread inside async code.
    """
    if settings.database_url:
        return settings.database_url
    admin_uri = start_embedded_server(settings.embedded_data_dir)
    return ensure_database(admin_uri, settings.database_name)


def redact_password(url: str) -> str:
    """The URL with its password masked, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def asyncpg_dsn(url: str) -> str:
    """asyncpg does not understand SQLAlchemy driver suffixes such as `+psycopg2`."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}"


async def init_connection(connection: asyncpg.Connection) -> None:
    """Codecs; and a TenantConnection learns whether it is on a Citus coordinator."""
    # No pgvector type yet means an unmigrated database. The start-up schema check reports it
    # with the command to run, which says more than a codec error would.
    with contextlib.suppress(ValueError):
        await register_vector(connection)
    for type_name in ("jsonb", "json"):
        await connection.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
    # Not isinstance: asyncpg makes it true of any connection (see set_tenant).
    if hasattr(connection, "remember_scope") and await connection.fetchval(
        "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"
    ):
        connection.shard_settings = {}


async def init_service_connection(
    connection: asyncpg.Connection, *, shard_settings: Mapping[str, str] | None = None
) -> None:
    """The service's connections: codecs, then the role that the tenant policies bind; on a
    Citus coordinator, what each checkout must send to the shards (`shard_settings`)."""
    await init_connection(connection)
    # Before migration 0011 this database grants the role nothing (the role, the server's, may
    # exist for another database): stay the owner, and the start-up schema check says so.
    migrated = await connection.fetchval(
        "SELECT to_regclass('public.tenants') IS NOT NULL "
        "AND EXISTS (SELECT FROM pg_roles WHERE rolname = $1)",
        APP_ROLE,
    )
    if migrated:
        await connection.execute(f"SET ROLE {APP_ROLE}")
    if getattr(connection, "shard_settings", None) is not None:
        connection.shard_settings = dict(shard_settings or {})


# What a session is set to: (tenant or None, role). None where it is not known.
SessionScope = tuple[UUID | None, str]
# Sets a session's scope. A connection that took no role (the tables' owner: the commands, or a
# database before 0011) keeps none: the owner is not bound by the policies.
SET_SCOPE = (
    "SELECT set_config('mnemolite.tenant_id', {tenant}, false), "
    "set_config('role', CASE current_setting('role') WHEN 'none' THEN 'none' ELSE {role} END, "
    "false)"
)


class TenantConnection(asyncpg.Connection):
    """A connection that knows in Python what `set_tenant` set its session to.

    Its release keeps that scope: asyncpg's reset (RESET ALL, ...) is followed by setting the
    tenant and the role back, in the same round trip. A next checkout for the same scope then
    sends nothing, and one for another scope sends one statement. While a change is under way
    the scope is unknown (None), so a failed or cancelled `set_tenant` is repeated in full.

    On a Citus coordinator every statement names its tenant: `TENANT` in its text becomes the
    scope's tenant as a constant, so Citus routes it to that tenant's shard (with the setting
    it would run on every shard, each evaluating it there). Statements are then prepared per
    tenant. The shards' policies still compare with the setting (see distributed_scope).
    """

    scope: SessionScope | None = None
    # On a Citus coordinator (init_connection): the settings a checkout sends to the shards
    # with the tenant, in a transaction (see distributed_scope). None elsewhere.
    shard_settings: dict[str, str] | None = None

    def _routed(self, query: str) -> str:
        if self.shard_settings is None or self.scope is None or self.scope[0] is None:
            return query
        tenant = self.scope[0]
        assert isinstance(tenant, UUID)
        return query.replace(TENANT, f"'{tenant}'::uuid")

    # asyncpg's own signatures, timeout included.
    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109
        status: str = await super().execute(self._routed(query), *args, timeout=timeout)
        return status

    async def _get_statement(self, query: str, timeout: float | None, **options: Any) -> Any:  # noqa: ASYNC109
        # Every prepared statement (fetch, fetchrow, fetchval, executemany, cursor) comes here.
        return await super()._get_statement(self._routed(query), timeout, **options)

    def remember_scope(self, scope: SessionScope | None) -> None:
        # A method, not an assignment: the pool hands out proxies, which forward calls only.
        self.scope = scope

    @property
    def tenant_id(self) -> UUID | None:
        return None if self.scope is None else self.scope[0]

    def get_reset_query(self) -> str:
        query: str = super().get_reset_query()
        if self.scope is None:
            return query  # RESET ALL clears the tenant; the next checkout sets everything
        tenant, role = self.scope
        # Simple-query protocol (no bind parameters): both values are ours, a UUID's canonical
        # text and one of the two role names, never a request's.
        assert tenant is None or isinstance(tenant, UUID)
        assert role in SERVICE_ROLES
        scope = SET_SCOPE.format(tenant=f"'{tenant or ''}'", role=f"'{role}'")
        return f"{query}\n{scope};"


def connection_tenant(connection: asyncpg.Connection) -> UUID | None:
    """The tenant of a pooled connection's session; None for system work or any other
    connection (what is kept per tenant is then not used)."""
    tenant_id: UUID | None = getattr(connection, "tenant_id", None)
    return tenant_id


async def create_pool(url: str, settings: Settings, *, min_size: int | None = None) -> asyncpg.Pool:
    """The service's pool on `url`. `min_size=0` opens no connection before the first use (a
    read replica that is down at start-up does not keep the service from starting)."""
    server_settings = {
        "application_name": "mnemolite",
        # JIT compilation costs milliseconds and these short indexed queries never repay it.
        "jit": "off",
        # Session defaults for vector search, so an unfiltered query needs no SET round trips;
        # iterative scans keep filtered HNSW queries from losing rows.
        "hnsw.ef_search": str(settings.hnsw_ef_search),
        "hnsw.iterative_scan": "relaxed_order",
    }
    if settings.db_statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    pool: asyncpg.Pool = await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=settings.db_pool_min_size if min_size is None else min_size,
        max_size=settings.db_pool_max_size,
        init=functools.partial(
            init_service_connection,
            shard_settings={k: v for k, v in server_settings.items() if k != "application_name"},
        ),
        connection_class=TenantConnection,
        server_settings=server_settings,
        command_timeout=max(settings.db_statement_timeout_ms / 1000 + 5, 10),
        timeout=CONNECT_TIMEOUT_SECONDS,
    )
    return pool


class Database:
    """Connections on demand, each set to one tenant. A route that embeds before it queries
    takes a connection only for its queries: no connection sits idle while the model runs, so
    DB_POOL_MAX_SIZE bounds the queries in flight, not the requests waiting for the model.

    A Database without a tenant hands out connections that see no tenant's rows and cannot
    write any: `for_tenant` and `across_tenants` say which rows a piece of work may touch.

    With read replicas (api.core.replication), `reading()` may hand out a standby's connection;
    `connection()` is always the primary's, and a tenant's use of it counts as a write."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        metrics: Metrics,
        *,
        tenant_id: UUID | None = None,
        all_tenants: bool = False,
        replicas: ReadReplicas | None = None,
    ) -> None:
        self.pool = pool
        self.metrics = metrics
        self.tenant_id = tenant_id
        self.all_tenants = all_tenants
        self.replicas = replicas

    def for_tenant(self, tenant_id: UUID) -> "Database":
        return Database(self.pool, self.metrics, tenant_id=tenant_id, replicas=self.replicas)

    def across_tenants(self) -> "Database":
        """For system work only: the job queue, metrics, key lookup, tenant administration."""
        return Database(self.pool, self.metrics, all_tenants=True, replicas=self.replicas)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A primary connection, for writes (and reads that must see the latest commit)."""
        try:
            async with self._checkout(self.pool) as connection:
                await set_tenant(connection, self.tenant_id, all_tenants=self.all_tenants)
                async with distributed_scope(connection, self.tenant_id):
                    yield connection
        finally:
            # After the release, hence after any commit: see ReadReplicas.
            if self.replicas is not None and self.tenant_id is not None:
                self.replicas.wrote(self.tenant_id)

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for reads only: a read replica's when one holds every write of this
        tenant (and is within the lag bound), else the primary's. Never write through it."""
        replica = None if self.replicas is None else self.replicas.choose(self.tenant_id)
        if replica is not None:
            assert self.replicas is not None
            held = contextlib.AsyncExitStack()
            try:
                connection = await held.enter_async_context(self._checkout(replica.pool))
                # Always a round trip, even when the scope is already set: a standby that went
                # away is found out here, where the read can still go to the primary.
                await set_tenant(
                    connection, self.tenant_id, all_tenants=self.all_tenants, always=True
                )
            except (*DATABASE_UNAVAILABLE, DatabaseUnavailable) as exc:
                await held.aclose()
                self.replicas.failed(replica, exc)  # this read falls back to the primary
            else:
                self.metrics.db_reads.labels(replica.name).inc()
                async with held, distributed_scope(connection, self.tenant_id):
                    yield connection
                return
        if self.replicas is not None:  # the counter is for deployments with replicas
            self.metrics.db_reads.labels("primary").inc()
        async with self._checkout(self.pool) as connection:
            await set_tenant(connection, self.tenant_id, all_tenants=self.all_tenants)
            async with distributed_scope(connection, self.tenant_id):
                yield connection

    @contextlib.asynccontextmanager
    async def tenants_table(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for the `tenants` table only, which has no policy (every role the
        service works as may read it): it keeps whatever scope it has, so looking a tenant up
        on each request (the access check) costs no round trip to set one, and the request's
        own checkout then finds the connection still set to its tenant. Never query a
        tenant-owned table through it."""
        async with self._checkout(self.pool) as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def _checkout(self, pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
        started = time.perf_counter()
        try:
            # Only the acquire is guarded: a TimeoutError of the caller's is not this one.
            connection = await pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            raise DatabaseUnavailable(
                f"No database connection could be had within {ACQUIRE_TIMEOUT_SECONDS:g} s "
                "(the database is slow or unreachable, or DB_POOL_MAX_SIZE is too small for the "
                "load); retry shortly."
            ) from exc
        # Long waits here mean DB_POOL_MAX_SIZE is too small for the load.
        self.metrics.db_pool_acquire_seconds.observe(time.perf_counter() - started)
        try:
            yield connection
        finally:
            # A connection broken by an outage is closed here; the pool opens a fresh one later.
            # The next holder's checkout sets its own scope (set_tenant) before any query.
            await pool.release(connection)


async def set_tenant(
    connection: asyncpg.Connection,
    tenant_id: UUID | None,
    *,
    all_tenants: bool = False,
    always: bool = False,
) -> None:
    """Scope the connection's session to one tenant (or, for system work, to all).

    Both the setting and the role are set, so no connection keeps the previous holder's; a
    pooled connection already set to this scope (see TenantConnection) needs no round trip,
    unless `always`.
    """
    scope: SessionScope = (
        None if all_tenants else tenant_id,
        SYSTEM_ROLE if all_tenants else APP_ROLE,
    )
    # Pooled connections are proxies (and asyncpg makes isinstance true of any connection):
    # ask for the method instead.
    remember = getattr(connection, "remember_scope", None)
    if remember is not None:
        if getattr(connection, "scope", None) == scope and not always:
            return
        remember(None)  # unknown until the statement has run
    await connection.execute(
        SET_SCOPE.format(tenant="$1", role="$2"),
        "" if scope[0] is None else str(scope[0]),
        scope[1],
    )
    if remember is not None:
        remember(scope)


async def get_database(request: Request) -> Database:
    """The request's tenant, as the access check decided it (api.core.security)."""
    principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
    tenant_id: UUID | None = None if principal is None else principal.tenant_id
    return Database(
        request.state.pool,
        request.app.state.metrics,
        tenant_id=tenant_id,
        replicas=request.state.replicas,
    )


DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_conn(database: DatabaseDep) -> AsyncIterator[asyncpg.Connection]:
    """One connection for the whole request (the routes that do not embed first)."""
    async with database.connection() as connection:
        yield connection


Conn = Annotated[asyncpg.Connection, Depends(get_conn)]


async def get_read_conn(database: DatabaseDep) -> AsyncIterator[asyncpg.Connection]:
    """One connection for a request that only reads: a read replica's when one may serve it."""
    async with database.reading() as connection:
        yield connection


ReadConn = Annotated[asyncpg.Connection, Depends(get_read_conn)]
