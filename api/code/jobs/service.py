"""Background indexing: enqueue a repository's files; a worker indexes them batch by batch.

A worker holds a job by a lease it renews; a job whose worker died is resumed by another from
its last recorded batch (indexing is incremental, so redoing a batch is harmless).

Every log line of a job carries its `job_id`, and the `request_id` of the request that queued it
(kept in the job's stored request), so one id finds the request and the work it started.

A job belongs to the tenant whose connection queued it. The worker takes jobs across tenants
(the queue is system work: `Database.across_tenants`), then runs each as its tenant
(`Database.for_tenant`), so everything it indexes lands in that tenant.
"""

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from api.code import pipeline
from api.code.index import service as code_index
from api.code.index.chunking import MAX_FILE_BYTES
from api.code.index.parsing import ParsePool, default_pool
from api.code.index.schemas import IndexRequest, IndexResult
from api.code.jobs import repository
from api.code.jobs.schemas import ClaimedJob, JobRead, Lease, QueueStats
from api.core.database import Database
from api.core.errors import DATABASE_UNAVAILABLE, DatabaseUnavailable, NotFound
from api.core.metrics import Metrics
from api.embeddings.factory import Embedders

log = structlog.get_logger(__name__)
BATCH_FILES = 50
# Stored beside the IndexRequest fields in the job's request JSON (no schema change needed).
REQUEST_ID_KEY = "request_id"
TOTAL_KEYS = ("indexed_files", "indexed_chunks", "unchanged_files", "failed_files")
RESULT_KEYS = (*TOTAL_KEYS, "removed_files", "indexed_nodes", "indexed_edges")

# A worker silent for LEASE_SECONDS is presumed dead (crashed, killed, cut off from the
# database) and its job is taken over; it renews every HEARTBEAT_SECONDS, well within the lease,
# so a slow batch or a briefly busy database does not lose it. A job abandoned MAX_ATTEMPTS
# times fails: whatever kills its workers would kill every next one.
LEASE_SECONDS = 60.0
HEARTBEAT_SECONDS = 10.0
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class LeasePolicy:
    lease_seconds: float = LEASE_SECONDS
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    max_attempts: int = MAX_ATTEMPTS


LEASES = LeasePolicy()
# The database cannot be reached now: no connection could be had in time (Database.connection),
# or the connection itself failed.
UNAVAILABLE = (*DATABASE_UNAVAILABLE, DatabaseUnavailable)


class LeaseLost(Exception):
    """Another worker took the job over (this one stalled past its lease): stop writing it."""


class JobNotFound(NotFound):
    error = "job_not_found"


async def enqueue(conn: asyncpg.Connection, request: IndexRequest) -> JobRead:
    payload = request.model_dump(mode="json")
    # Bound by the request middleware; absent when a script queues the job.
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id is not None:
        payload[REQUEST_ID_KEY] = request_id
    job = await repository.enqueue(conn, request.repository, payload)
    log.info(
        "index_job_queued", job_id=str(job.id), repository=job.repository, files=job.total_files
    )
    return job


async def get(conn: asyncpg.Connection, job_id: UUID) -> JobRead:
    job = await repository.get(conn, job_id)
    if job is None:
        raise JobNotFound(f"No index job with id {job_id}.")
    return job


async def queue_stats(conn: asyncpg.Connection) -> QueueStats:
    """Counts and ages of queued and running jobs of every tenant (for /metrics): call it on a
    connection of `Database.across_tenants()`."""
    return await repository.queue_stats(conn)


async def recent(
    conn: asyncpg.Connection, *, limit: int = 10, repository_name: str | None = None
) -> list[JobRead]:
    return await repository.recent(conn, limit=limit, repository=repository_name)


async def run_next(
    database: Database,
    embedders: Embedders,
    *,
    worker: str,
    metrics: Metrics | None = None,
    policy: LeasePolicy = LEASES,
    stop: asyncio.Event | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_code_chunks: int = 0,
    parser: ParsePool | None = None,
) -> bool:
    """Run the oldest queued (or abandoned) job, if any; True when one was taken.

    The job is taken from any tenant and run as its own (whatever tenant `database` has).
    When `stop` is set between two batches, the job goes back to the queue with its progress.
    Files are parsed in `parser` (the entry point's; a caller without one gets the default).
    """
    system = database.across_tenants()
    async with system.connection() as conn:
        for abandoned in await repository.fail_abandoned(
            conn, lease_seconds=policy.lease_seconds, max_attempts=policy.max_attempts
        ):
            log.error("index_job_abandoned", job_id=str(abandoned), attempts=policy.max_attempts)
            if metrics is not None:
                metrics.index_jobs_finished.labels("failed").inc()
        claimed = await repository.claim(
            conn, worker, lease_seconds=policy.lease_seconds, max_attempts=policy.max_attempts
        )
    if claimed is None:
        return False
    ids = {"job_id": str(claimed.id), "tenant_id": str(claimed.tenant_id)}
    if REQUEST_ID_KEY in claimed.request:
        ids["request_id"] = str(claimed.request.pop(REQUEST_ID_KEY))
    with structlog.contextvars.bound_contextvars(**ids):
        await _run(
            system,
            database.for_tenant(claimed.tenant_id),
            embedders,
            claimed,
            metrics,
            policy,
            stop or asyncio.Event(),
            max_file_bytes=max_file_bytes,
            max_code_chunks=max_code_chunks,
            parser=parser or default_pool(),
        )
    return True


async def _run(
    system: Database,
    tenant: Database,
    embedders: Embedders,
    job: ClaimedJob,
    metrics: Metrics | None,
    policy: LeasePolicy,
    stop: asyncio.Event,
    *,
    max_file_bytes: int,
    max_code_chunks: int,
    parser: ParsePool,
) -> None:
    started = time.perf_counter()
    log.info(
        "index_job_started",
        repository=job.request.get("repository"),
        worker=job.worker,
        attempt=job.attempts,
        resume_from=job.processed_files,
    )
    beat = asyncio.create_task(
        _keep_alive(system, job.lease, tenant_id=job.tenant_id, every=policy.heartbeat_seconds)
    )
    try:
        # Parsed inside the try: a request that no longer validates fails its job instead of
        # leaving it `running` for ever.
        request = IndexRequest(**job.request)
        result = await _index_in_batches(
            tenant,
            embedders,
            job,
            request,
            metrics,
            stop,
            max_file_bytes=max_file_bytes,
            max_code_chunks=max_code_chunks,
            parser=parser,
        )
    except LeaseLost:
        log.warning("index_job_lease_lost", worker=job.worker)
        return
    except UNAVAILABLE as exc:
        # Not the job's fault: it stays `running` and is resumed when its lease lapses.
        log.warning("index_job_interrupted", error=repr(exc))
        return
    except Exception as exc:  # the job fails, the worker goes on
        log.exception("index_job_failed")
        async with tenant.connection() as conn:
            await repository.finish(conn, job.lease, status="failed", result={"error": repr(exc)})
        _observe_job(metrics, "failed", time.perf_counter() - started)
        return
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
    if result is None:
        log.info("index_job_released", processed_files=job.processed_files)
        return
    async with tenant.connection() as conn:
        if not await repository.finish(conn, job.lease, status="succeeded", result=result):
            log.warning("index_job_lease_lost", worker=job.worker)
            return
    seconds = time.perf_counter() - started
    _observe_job(metrics, "succeeded", seconds)
    log.info(
        "index_job_succeeded",
        indexed_files=result["indexed_files"],
        failed_files=result["failed_files"],
        indexed_chunks=result["indexed_chunks"],
        duration_s=round(seconds, 3),
    )


async def _keep_alive(system: Database, lease: Lease, *, tenant_id: UUID, every: float) -> None:
    """Renew the lease while a batch runs: embedding one batch may outlast the lease."""
    while True:
        await asyncio.sleep(every)
        try:
            async with system.connection() as conn:
                if not await repository.heartbeat(conn, lease, tenant_id=tenant_id):
                    return  # another worker took the job; the next progress write says so
        except UNAVAILABLE as exc:
            log.warning("index_job_heartbeat_failed", error=repr(exc))


def _observe_job(metrics: Metrics | None, status: str, seconds: float) -> None:
    if metrics is not None:
        metrics.index_jobs_finished.labels(status).inc()
        metrics.index_job_seconds.labels(status).observe(seconds)


def _observe_batch(metrics: Metrics | None, outcome: IndexResult) -> None:
    """Counted per batch, so the files of a job that fails later are not lost."""
    if metrics is None:
        return
    for result, count in (
        ("indexed", outcome.indexed_files),
        ("unchanged", outcome.unchanged_files),
        ("skipped", len(outcome.skipped_files)),
        ("failed", outcome.failed_files),
    ):
        metrics.index_job_files.labels(result).inc(count)
    metrics.index_job_chunks.inc(outcome.indexed_chunks)


async def _index_in_batches(
    tenant: Database,
    embedders: Embedders,
    job: ClaimedJob,
    request: IndexRequest,
    metrics: Metrics | None,
    stop: asyncio.Event,
    *,
    max_file_bytes: int,
    max_code_chunks: int,
    parser: ParsePool,
) -> dict[str, Any] | None:
    """The job's result; None when `stop` was set and the job went back to the queue.

    Every write goes through `tenant`, the job's own.

    A resumed job starts after the last batch an earlier attempt recorded, from its totals
    (a batch indexed but not recorded is redone: its files are then `unchanged`).
    """
    files = request.files
    saved = job.result or {}
    result = {key: int(saved.get(key, 0)) for key in RESULT_KEYS}
    errors = list(job.errors)
    for start in range(job.processed_files, len(files), BATCH_FILES):
        if stop.is_set():
            async with tenant.connection() as conn:
                await repository.release(conn, job.lease)
            return None
        batch = files[start : start + BATCH_FILES]
        is_last = start + BATCH_FILES >= len(files)
        part = request.model_copy(
            update={
                "files": batch,
                "full_snapshot": False,
                "build_graph": request.build_graph and is_last,
            }
        )
        removed = 0
        if is_last and request.full_snapshot:  # before the graph is rebuilt
            async with tenant.connection() as conn:
                removed = await code_index.remove_absent(
                    conn, request.repository, [f.path for f in files]
                )
        # The batch is parsed and embedded with no connection held; it takes one per write.
        outcome = await pipeline.index_files(
            tenant.connection,
            embedders,
            part,
            parser=parser,
            max_files=BATCH_FILES,
            max_file_bytes=max_file_bytes,
            max_code_chunks=max_code_chunks,
        )
        _observe_batch(metrics, outcome)
        for key in TOTAL_KEYS:
            result[key] += getattr(outcome, key)
        if is_last:
            result.update(
                removed_files=removed,
                indexed_nodes=outcome.indexed_nodes,
                indexed_edges=outcome.indexed_edges,
            )
        errors += [e.model_dump() for e in (*outcome.errors, *outcome.skipped_files)]
        async with tenant.connection() as conn:
            recorded = await repository.progress(
                conn,
                job.lease,
                processed=start + len(batch),
                chunks=result["indexed_chunks"],
                errors=errors,
                totals=result,
            )
        if not recorded:
            raise LeaseLost
    return result
