"""Health and readiness (database reachable, schema at head, models loaded), metrics.

The start-up refusal of a database behind head is api.core.schema's `ensure_schema`.
"""

from typing import Any

import asyncpg
import structlog

import api
from api.code.jobs import service as index_jobs
from api.core.database import set_tenant
from api.core.errors import DATABASE_UNAVAILABLE
from api.core.metrics import Metrics
from api.core.replication.service import ReadReplicas
from api.core.schema.service import read_schema
from api.core.tenancy import service as tenancy
from api.embeddings.factory import Embedders
from api.ops.health import repository

log = structlog.get_logger(__name__)


async def health_report(
    pool: asyncpg.Pool | None,
    embedders: Embedders | None,
    *,
    head: str,
    lexical_ranking: str | None = None,
) -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Never raises for an unreachable database: that is what it reports.

    `lexical_ranking` is what start-up chose (bm25, or the ts_rank fallback): reported, never a
    reason to be degraded."""
    database: dict[str, Any] = {"reachable": False}
    if pool is not None:
        try:
            async with pool.acquire(timeout=2) as conn:
                schema = await read_schema(conn, head=head)
                database = {
                    "reachable": True,
                    "schema_revision": schema.revision,
                    "expected_revision": head,
                    "at_head": schema.at_head,
                    **await repository.server_versions(conn),
                }
        except asyncpg.InsufficientPrivilegeError as exc:
            # The service's role is granted nothing: the schema is behind migration 0011
            # (downgraded, or restored from an older backup) under connections already open.
            database = {"reachable": True, "at_head": False, "error": type(exc).__name__}
        except (*DATABASE_UNAVAILABLE, asyncpg.PostgresError) as exc:
            # Reported, never raised: /health must answer while the database is away.
            database = {"reachable": False, "error": type(exc).__name__}
    models: dict[str, Any] = {"loaded": embedders is not None}
    if embedders is not None:
        models.update(
            text_model=embedders.text.model_name,
            code_model=embedders.code.model_name,
            dimension=embedders.text.dimension,
            shared_instance=embedders.text is embedders.code,
        )
    healthy = bool(database.get("at_head")) and models["loaded"]
    report = {
        "status": "ok" if healthy else "degraded",
        "database": database,
        "services": {"embeddings": models, "search": {"lexical_ranking": lexical_ranking}},
        "versions": {"mnemolite": api.__version__, **_versions(database)},
    }
    return healthy, report


def _versions(database: dict[str, Any]) -> dict[str, Any]:
    return {key: database.get(key) for key in ("postgres", "pgvector")}


async def readiness(
    pool: asyncpg.Pool | None, replicas: ReadReplicas | None = None
) -> tuple[bool, dict[str, Any]]:
    if pool is None:
        return False, {"status": "starting"}
    standbys = {} if replicas is None else {"replicas": replicas.report()}
    try:
        async with pool.acquire(timeout=2) as conn:
            await repository.ping(conn)
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return False, {"status": "unavailable", "reason": type(exc).__name__, **standbys}
    return True, {"status": "ready", **standbys}


async def render_metrics(pool: asyncpg.Pool | None, metrics: Metrics) -> bytes:
    """The exposition text, with the pool and job-queue gauges read now.

    The job gauges come from the database, not from a worker's memory, so they are right
    whichever process (API or `python -m workers`) runs the jobs. They count every tenant's
    jobs: the connection is set across tenants (the pool's role sees no row without a tenant).
    """
    if pool is not None:
        observe_pool(pool, metrics)  # before taking a connection for the query below
        try:
            # The pool directly, not Database.across_tenants(): a scrape waits 2 s for a
            # connection, not the routes' 10 s, so the gauges drop out rather than hang.
            async with pool.acquire(timeout=2) as conn:
                await set_tenant(conn, None, all_tenants=True)
                stats = await index_jobs.queue_stats(conn)
                tenants = await tenancy.count_tenants(conn)
        except (*DATABASE_UNAVAILABLE, asyncpg.PostgresError) as exc:
            # Stale numbers would look healthy: drop the series until the database answers.
            log.warning("metrics_job_stats_unavailable", error=repr(exc))
            metrics.index_jobs.clear()
            metrics.index_jobs_oldest_seconds.clear()
            metrics.tenants.set(float("nan"))
        else:
            metrics.tenants.set(tenants)
            metrics.index_jobs.labels("queued").set(stats.queued)
            metrics.index_jobs.labels("running").set(stats.running)
            metrics.index_jobs_oldest_seconds.labels("queued").set(stats.oldest_queued_seconds)
            metrics.index_jobs_oldest_seconds.labels("running").set(stats.oldest_running_seconds)
    return metrics.render()


def observe_pool(pool: asyncpg.Pool, metrics: Metrics) -> None:
    size, idle = pool.get_size(), pool.get_idle_size()
    metrics.db_pool_size.set(size)
    metrics.db_pool_idle.set(idle)
    metrics.db_pool_in_use.set(size - idle)
    metrics.db_pool_min_size.set(pool.get_min_size())
    metrics.db_pool_max_size.set(pool.get_max_size())
