"""The purge of expired events: the API and `python -m workers` both run this loop.

Reads leave an expired event out from its `expires_at` on (api/memory/events/sql.py, LIVE);
this deletes it afterwards, tenant by tenant (each tenant's statements on its own connection,
so on a Citus cluster each runs on the tenant's shard), `batch` rows per statement, each its
own short transaction: no lock is held long, and a sweep yields to requests between batches.
Two processes purging at once delete different rows or find them gone.
"""

import asyncio
import contextlib

import structlog

from api.core.config import Settings
from api.core.database import Database
from api.core.errors import DATABASE_UNAVAILABLE, DatabaseUnavailable
from api.core.metrics import Metrics
from api.core.tenancy.service import list_tenants
from api.memory.events.service import purge_expired

log = structlog.get_logger(__name__)

UNAVAILABLE = (*DATABASE_UNAVAILABLE, DatabaseUnavailable)


async def sweep(database: Database, *, batch: int, metrics: Metrics | None = None) -> int:
    """Delete every tenant's expired events now; return how many."""
    purged = 0
    for tenant in (await list_tenants(database)).tenants:
        tenant_database = database.for_tenant(tenant.id)
        while True:
            async with tenant_database.connection() as conn:
                deleted = await purge_expired(conn, batch=batch)
            purged += deleted
            if metrics is not None and deleted:
                metrics.events_expired.inc(deleted)
            if deleted < batch:
                break
            await asyncio.sleep(0)  # let requests in between batches
    if purged:
        log.info("expired_events_purged", events=purged)
    return purged


async def purge_forever(
    database: Database,
    stop: asyncio.Event,
    *,
    interval_seconds: float,
    batch: int,
    metrics: Metrics | None = None,
) -> None:
    """Sweep every `interval_seconds` until `stop` is set."""
    while not stop.is_set():
        try:
            await sweep(database, batch=batch, metrics=metrics)
        except UNAVAILABLE as exc:  # expected during an outage: no traceback
            log.warning("expiry_purge_database_unavailable", error=repr(exc))
        except Exception:  # the loop must outlive any one failure
            log.exception("expiry_purge_error")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)


def start(
    database: Database, stop: asyncio.Event, settings: Settings, metrics: Metrics
) -> asyncio.Task[None] | None:
    """The purge as a task of this process (the API's lifespan, `python -m workers`), unless
    EXPIRY_PURGE_INTERVAL_SECONDS is 0; it ends once `stop` is set."""
    if settings.expiry_purge_interval_seconds <= 0:
        return None
    return asyncio.create_task(
        purge_forever(
            database,
            stop,
            interval_seconds=settings.expiry_purge_interval_seconds,
            batch=settings.expiry_purge_batch,
            metrics=metrics,
        ),
        name="expiry-purge",
    )
