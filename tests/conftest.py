"""Test fixtures: a real PostgreSQL 18 + pgvector, migrated once by Alembic, truncated per test.

By default the embedded server runs under `.data/test-postgres` (kept between runs so initdb
happens once) and a fresh database is created for each session. Set TEST_DATABASE_URL to an
admin URL of another server to use that one instead.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

# Tests pin the settings they depend on, whatever a developer's .env says.
os.environ.update(
    {
        "EMBEDDING_MODE": "mock",
        "EMBEDDING_DIMENSION": "384",
        "HNSW_M": "16",
        "HNSW_EF_CONSTRUCTION": "64",
        "HNSW_STORAGE": "vector",
        "LOG_LEVEL": "warning",
        # The purge of expired events runs when a test asks (tests/memory/test_expiry.py), not
        # on a timer in every app a test starts.
        "EXPIRY_PURGE_INTERVAL_SECONDS": "0",
    }
)

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr

from api.core import local_cluster
from api.core.config import Settings, get_settings
from api.core.database import TenantConnection, init_connection, set_tenant
from api.core.local_postgres import (
    drop_database,
    ensure_database,
    start_embedded_server,
)
from api.core.metrics import Metrics, create_metrics
from api.core.migrations import upgrade
from api.core.schema.repository import BM25_INDEXES as MIGRATED_BM25_INDEXES
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.embeddings.factory import Embedders, build_embedders
from api.main import create_app
from tests.support.apps import AppFactory
from tests.support.isolation import client_with_key, tenant_a  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
# One database per test session, so parallel sessions on one server never collide.
TEST_DATABASE = f"mnemolite_test_{os.getpid()}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cluster",
        action="store_true",
        help="run against a local Citus cluster (a coordinator and two workers, .data/"
        "test-cluster) instead of one server: `make test-cluster`",
    )


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[local_cluster.Cluster | None]:
    """The local Citus cluster of a `--cluster` run, started for the session; else None."""
    if not request.config.getoption("--cluster"):
        yield None
        return
    nodes = local_cluster.layout(ROOT / ".data" / "test-cluster")
    local_cluster.start(nodes)
    try:
        yield nodes
    finally:
        local_cluster.stop(nodes)


@pytest.fixture(scope="session")
def admin_url(cluster: local_cluster.Cluster | None) -> str:
    if cluster is not None:
        return cluster.admin_uri
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return start_embedded_server(ROOT / ".data" / "test-postgres")


def fresh_database(admin_url: str, name: str) -> str:
    drop_database(admin_url, name)
    return ensure_database(admin_url, name)


@pytest.fixture(scope="session")
def database_url(admin_url: str, cluster: local_cluster.Cluster | None) -> Iterator[str]:
    """The session's database, migrated: on a `--cluster` run, distributed (migration 0014)."""
    get_settings.cache_clear()
    if cluster is None:
        url = fresh_database(admin_url, TEST_DATABASE)
    else:
        local_cluster.drop(cluster, TEST_DATABASE)
        url = local_cluster.ensure_database(cluster, TEST_DATABASE)
    upgrade(url)
    yield url
    if cluster is None:
        drop_database(admin_url, TEST_DATABASE)
    else:
        local_cluster.drop(cluster, TEST_DATABASE)


@pytest.fixture
def scratch_url(admin_url: str) -> Iterator[str]:
    """An empty, unmigrated database for tests that migrate or break one themselves."""
    name = f"mnemolite_scratch_{os.getpid()}"
    url = fresh_database(admin_url, name)
    yield url
    drop_database(admin_url, name)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # httpx's test clients send `Host: test`, Starlette's TestClient `Host: testserver`.
    return Settings(
        database_url=database_url,
        embedding_mode="mock",
        allowed_hosts=("test", "testserver"),
        _env_file=None,
    )


@pytest.fixture(scope="session")
def metrics() -> Metrics:
    return create_metrics()


@pytest.fixture(scope="session")
async def embedders(settings: Settings, metrics: Metrics) -> AsyncIterator[Embedders]:
    service = build_embedders(settings, metrics)
    await service.start()
    yield service
    await service.aclose()


@pytest.fixture(scope="session")
async def real_embedders(settings: Settings) -> AsyncIterator[Embedders]:
    """The packaged all-MiniLM-L6-v2, loaded once per session by the tests that ask for it."""
    import asyncio

    real = settings.model_copy(update={"embedding_mode": "real"})
    service = await asyncio.to_thread(build_embedders, real)
    await service.start()
    yield service
    await service.aclose()


@pytest.fixture(scope="session")
async def app(
    settings: Settings, embedders: Embedders, database_url: str, metrics: Metrics
) -> AsyncIterator[FastAPI]:
    application = create_app(
        settings, embedders=embedders, database_url=database_url, metrics=metrics
    )
    # Between tests the tenants are deleted straight in the database, as another process
    # would: this app, shared by the tests, must not remember their names for the seconds it
    # otherwise would (tests/core/test_tenant_directory.py tests that memory on apps of its own).
    application.state.tenant_directory.ttl_seconds = 0
    async with LifespanManager(application) as manager:
        yield manager.app  # type: ignore[misc]


@pytest.fixture
def app_with(settings: Settings, embedders: Embedders, database_url: str) -> AppFactory:
    """An app started with other settings, and a client of it: `async with app_with(x=...)`.

    A string `api_key` is wrapped as the secret it is; the in-process index worker stays off."""

    @asynccontextmanager
    async def start(**update: Any) -> AsyncIterator[httpx.AsyncClient]:
        if isinstance(update.get("api_key"), str):
            update["api_key"] = SecretStr(update["api_key"])
        changed = settings.model_copy(update={"index_worker_in_process": False, **update})
        application = create_app(
            changed, embedders=embedders, database_url=database_url, metrics=create_metrics()
        )
        async with LifespanManager(application) as manager:
            served: FastAPI = manager.app  # type: ignore[assignment]
            transport = httpx.ASGITransport(app=served)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield http

    return start


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the tables' owner, set to the default tenant (as the service would be)."""
    # A TenantConnection: on a cluster (--cluster) its statements name the tenant, as the
    # service's do.
    connection = await asyncpg.connect(database_url, connection_class=TenantConnection)
    await init_connection(connection)
    await set_tenant(connection, DEFAULT_TENANT_ID)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def other(conn: asyncpg.Connection) -> uuid.UUID:
    """A second tenant, `other`, beside `default`."""
    tenant_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO tenants (name) VALUES ('other') RETURNING id"
    )
    return tenant_id


@pytest.fixture
async def theirs(app: FastAPI, other: uuid.UUID) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the shared app whose every request acts on tenant `other`."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"X-Tenant": "other"}
    ) as http:
        yield http


# The tables _clean_tables empties, by database URL: read from the catalogue once per session.
_TRUNCATED: dict[str, str] = {}


async def truncated_tables(connection: asyncpg.Connection, url: str) -> str:
    """Every table of the migrated schema but Alembic's own and tenants, quoted, for TRUNCATE.

    Derived, so a new migration's table is emptied too. ui_session_epoch is included: with its
    row gone the epoch reads 0, as right after the migration (api/core/sessions/repository.py).
    The tenants other than `default` are deleted instead (the default one is the migration's).
    """
    if url not in _TRUNCATED:
        names = await connection.fetch(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('alembic_version', 'tenants') ORDER BY tablename"
        )
        _TRUNCATED[url] = ", ".join(name for (name,) in names)
    return _TRUNCATED[url]


# Every BM25 index of the schema (migration 0013; none where pg_textsearch is missing).
BM25_INDEXES = """
    SELECT quote_ident(i.relname), pg_get_indexdef(i.oid) FROM pg_class i
    JOIN pg_am am ON am.oid = i.relam
    WHERE am.amname = 'bm25' AND i.relnamespace = 'public'::regnamespace
"""


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Empty the tables after every test that touched the database."""
    yield
    if "database_url" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    connection = await asyncpg.connect(url)
    try:
        tables = await truncated_tables(connection, url)
        # One transaction, tried again on a deadlock: a background job a test left running
        # (the in-process worker) may still be writing, and a half-done clean-up would leave
        # every later test without the BM25 indexes.
        for attempt in range(CLEAN_ATTEMPTS):
            try:
                async with connection.transaction():
                    await _empty(connection, tables)
                break
            except asyncpg.exceptions.DeadlockDetectedError:
                if attempt == CLEAN_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
    finally:
        await connection.close()


CLEAN_ATTEMPTS = 5


async def _empty(connection: asyncpg.Connection, tables: str) -> None:
    # On a cluster (--cluster), the TRUNCATE of distributed tables and the DELETE of the
    # reference table `tenants` go over one connection per node; elsewhere a placeholder.
    await connection.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
    bm25 = await connection.fetch(BM25_INDEXES)
    # A BM25 index is dropped and made again around the TRUNCATE, under a new OID:
    # pg_textsearch 1.4.0 caches an index's state per backend by OID, and a TRUNCATE (new
    # storage, same OID) leaves the session app's pooled connections reading stale state: wrong
    # results, or "fragment head page ... has n_records" errors (timescale/pg_textsearch#485
    # describes the same for REINDEX).
    for name, _ in bm25:
        await connection.execute(f"DROP INDEX {name}")
    # Names come from the catalogue (quoted), not from a caller.
    await connection.execute(f"TRUNCATE {tables} CASCADE")
    for name, definition in bm25:
        if name in MIGRATED_BM25_INDEXES:  # a tenant's own index goes with its tenant
            await connection.execute(definition)
    await connection.execute("DELETE FROM tenants WHERE id <> $1", DEFAULT_TENANT_ID)
