"""SQL of index jobs: enqueue, claim (SKIP LOCKED) with leases, progress, finish, queue stats.

A job belongs to the tenant that queued it (the column's default). Enqueue, reads, progress and
the end of a job are the connection's tenant's (`TENANT`). The queue itself is system work, on a
connection across tenants (`Database.across_tenants`): the claim, the stale-job recovery, the
lease renewal (by the job's tenant and id) and the queue stats."""

import json
from typing import Any
from uuid import UUID

import asyncpg

from api.code.jobs.schemas import ClaimedJob, JobRead, Lease, QueueStats
from api.core.database import TENANT

JOB_COLUMNS = (
    "id, repository, status, total_files, processed_files, indexed_chunks, errors, result, "
    "created_at, started_at, finished_at"
)
# A job is written only by the worker holding its lease: the same worker name and attempt
# number (a worker that stalled past its lease must not overwrite the one that took over).
LEASED = "id = $1 AND worker = $2 AND attempts = $3 AND status = 'running'"
OWNED = f"tenant_id = {TENANT} AND {LEASED}"


def to_job(record: asyncpg.Record) -> JobRead:
    total = record["total_files"]
    progress = 1.0 if total == 0 else record["processed_files"] / total
    if record["status"] == "succeeded":
        progress = 1.0
    return JobRead(**dict(record), progress=round(progress, 4))


async def enqueue(conn: asyncpg.Connection, repository: str, request: dict[str, Any]) -> JobRead:
    record = await conn.fetchrow(
        f"""
        INSERT INTO index_jobs (repository, total_files, request) VALUES ($1, $2, $3)
        RETURNING {JOB_COLUMNS}
        """,
        repository,
        len(request["files"]),
        json.dumps(request),
    )
    return to_job(record)


async def get(conn: asyncpg.Connection, job_id: UUID) -> JobRead | None:
    record = await conn.fetchrow(
        f"SELECT {JOB_COLUMNS} FROM index_jobs WHERE tenant_id = {TENANT} AND id = $1", job_id
    )
    return to_job(record) if record else None


async def recent(
    conn: asyncpg.Connection, *, limit: int, repository: str | None = None
) -> list[JobRead]:
    """The latest jobs, newest first (the table holds few rows: no index is needed to sort)."""
    records = await conn.fetch(
        f"""
        SELECT {JOB_COLUMNS} FROM index_jobs
        WHERE tenant_id = {TENANT} AND ($2::text IS NULL OR repository = $2)
        ORDER BY created_at DESC, id DESC LIMIT $1
        """,
        limit,
        repository,
    )
    return [to_job(record) for record in records]


async def claim(
    conn: asyncpg.Connection, worker: str, *, lease_seconds: float, max_attempts: int
) -> ClaimedJob | None:
    """Take the oldest queued job, or a running one whose lease lapsed (its worker died), of
    any tenant (call it on a connection across tenants).

    SKIP LOCKED: several workers never take the same job. A lapsed job is re-checked after the
    row lock is taken, so a lease renewed meanwhile is not stolen. `started_at` keeps the first
    start, so the age gauge of a resumed job counts from then.
    """
    # The shape Citus also plans (the queue is a local table on a coordinator): the job in a
    # CTE, with the clock read there, as an UPDATE there may not mix STABLE functions with
    # the row's columns.
    record = await conn.fetchrow(
        """
        WITH next AS (
            SELECT tenant_id, id, now() AS at FROM index_jobs
            WHERE status = 'queued'
               OR (status = 'running' AND attempts < $3
                   AND (heartbeat_at IS NULL
                        OR heartbeat_at < now() - make_interval(secs => $2)))
            ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1
        )
        UPDATE index_jobs j SET status = 'running', started_at = coalesce(j.started_at, next.at),
            worker = $1, heartbeat_at = next.at, attempts = j.attempts + 1
        FROM next WHERE j.tenant_id = next.tenant_id AND j.id = next.id
        RETURNING j.tenant_id, j.id, j.worker, j.attempts, j.request, j.processed_files,
                  j.indexed_chunks, j.errors, j.result
        """,
        worker,
        lease_seconds,
        max_attempts,
    )
    if record is None:
        return None
    fields = dict(record)
    fields["request"] = json.loads(fields["request"])
    return ClaimedJob(**fields)


async def fail_abandoned(
    conn: asyncpg.Connection, *, lease_seconds: float, max_attempts: int
) -> list[UUID]:
    """Fail the jobs whose lease lapsed after their last allowed attempt: never `running` for
    ever, and never retried for ever (a file that kills the worker would kill every one).

    Of every tenant (call it on a connection across tenants). The message is made here and
    the rows are found in a CTE: the shapes Citus plans too (see `claim`)."""
    error = (
        f"The job was abandoned on its last allowed attempt ({max_attempts}): its worker "
        "stopped renewing its lease, e.g. it crashed or lost the database. It is not retried."
    )
    records = await conn.fetch(
        """
        WITH lapsed AS (
            SELECT tenant_id, id FROM index_jobs
            WHERE status = 'running' AND attempts >= $2
              AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $1))
            FOR UPDATE SKIP LOCKED
        )
        UPDATE index_jobs j SET status = 'failed', finished_at = now(), request = NULL,
            result = $3::jsonb
        FROM lapsed WHERE j.tenant_id = lapsed.tenant_id AND j.id = lapsed.id
        RETURNING j.id
        """,
        lease_seconds,
        max_attempts,
        {"error": error},
    )
    return [record["id"] for record in records]


async def heartbeat(conn: asyncpg.Connection, lease: Lease, *, tenant_id: UUID) -> bool:
    """Renew a lease of the job `tenant_id` owns (on a connection across tenants); False when
    the job is no longer this worker's (another one took it)."""
    renewed = await conn.fetchval(
        f"UPDATE index_jobs SET heartbeat_at = now() WHERE tenant_id = $4 AND {LEASED} "
        "RETURNING id",
        lease.job_id,
        lease.worker,
        lease.attempt,
        tenant_id,
    )
    return renewed is not None


async def progress(
    conn: asyncpg.Connection,
    lease: Lease,
    *,
    processed: int,
    chunks: int,
    errors: list[Any],
    totals: dict[str, Any],
) -> bool:
    """Record a finished batch (and renew the lease); False when the lease was lost.

    While the job runs, `result` holds the totals so far: a resumed job starts from them.
    """
    updated = await conn.fetchval(
        f"""
        UPDATE index_jobs SET processed_files = $4, indexed_chunks = $5, errors = $6,
            result = $7, heartbeat_at = now()
        WHERE {OWNED}
        RETURNING id
        """,
        lease.job_id,
        lease.worker,
        lease.attempt,
        processed,
        chunks,
        errors,
        totals,
    )
    return updated is not None


async def finish(
    conn: asyncpg.Connection, lease: Lease, *, status: str, result: dict[str, Any] | None
) -> bool:
    """End a job; its request (the files) is no longer needed. False when the lease was lost."""
    updated = await conn.fetchval(
        f"""
        UPDATE index_jobs SET status = $4, result = $5, finished_at = now(), request = NULL
        WHERE {OWNED}
        RETURNING id
        """,
        lease.job_id,
        lease.worker,
        lease.attempt,
        status,
        result,
    )
    return updated is not None


async def release(conn: asyncpg.Connection, lease: Lease) -> bool:
    """Put a job back in the queue (the worker is stopping); its progress is kept, and the
    attempt is given back since nothing went wrong."""
    updated = await conn.fetchval(
        f"""
        UPDATE index_jobs SET status = 'queued', heartbeat_at = NULL, attempts = attempts - 1
        WHERE {OWNED}
        RETURNING id
        """,
        lease.job_id,
        lease.worker,
        lease.attempt,
    )
    return updated is not None


async def queue_stats(conn: asyncpg.Connection) -> QueueStats:
    """Counts and ages of queued and running jobs of every tenant (call it on a connection
    across tenants), read on every metrics scrape.

    Finished jobs stay in the table (small rows: their request is dropped), so this scan grows
    with the history; at tens of thousands of rows it still takes a few milliseconds.
    """
    record = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
               count(*) FILTER (WHERE status = 'running') AS running,
               coalesce(extract(epoch FROM now() - min(created_at)
                   FILTER (WHERE status = 'queued')), 0)::float8 AS oldest_queued_seconds,
               coalesce(extract(epoch FROM now() - min(started_at)
                   FILTER (WHERE status = 'running')), 0)::float8 AS oldest_running_seconds
        FROM index_jobs
        WHERE status IN ('queued', 'running')
        """
    )
    return QueueStats(**dict(record))
