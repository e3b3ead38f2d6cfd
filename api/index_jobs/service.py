"""Background indexing: enqueue a repository's files; a worker indexes them batch by batch.

Every log line of a job carries its `job_id`, and the `request_id` of the request that queued it
(kept in the job's stored request), so one id finds the request and the work it started.
"""

import asyncio
import contextlib
import time
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from api.code_index import service as code_index
from api.code_index.schemas import IndexRequest, IndexResult
from api.embeddings.factory import Embedders
from api.errors import NotFound
from api.index_jobs import repository
from api.index_jobs.schemas import JobRead
from api.metrics import Metrics

log = structlog.get_logger(__name__)
BATCH_FILES = 50
# Stored beside the IndexRequest fields in the job's request JSON (no schema change needed).
REQUEST_ID_KEY = "request_id"


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


async def run_next(
    pool: asyncpg.Pool, embedders: Embedders, *, worker: str, metrics: Metrics | None = None
) -> bool:
    """Run the oldest queued job, if any; True when one ran."""
    async with pool.acquire() as conn:
        claimed = await repository.claim(conn, worker)
    if claimed is None:
        return False
    job_id, payload = claimed
    ids = {"job_id": str(job_id)}
    if REQUEST_ID_KEY in payload:
        ids["request_id"] = str(payload.pop(REQUEST_ID_KEY))
    with structlog.contextvars.bound_contextvars(**ids):
        await _run(pool, embedders, job_id, payload, worker, metrics)
    return True


async def _run(
    pool: asyncpg.Pool,
    embedders: Embedders,
    job_id: UUID,
    payload: dict[str, Any],
    worker: str,
    metrics: Metrics | None,
) -> None:
    started = time.perf_counter()
    log.info("index_job_started", repository=payload.get("repository"), worker=worker)
    try:
        # Parsed inside the try: a request that no longer validates fails its job instead of
        # leaving it `running` for ever.
        request = IndexRequest(**payload)
        result = await _index_in_batches(pool, embedders, job_id, request, metrics)
    except Exception as exc:  # the job fails, the worker goes on
        log.exception("index_job_failed")
        async with pool.acquire() as conn:
            await repository.finish(conn, job_id, status="failed", result={"error": repr(exc)})
        _observe_job(metrics, "failed", time.perf_counter() - started)
        return
    async with pool.acquire() as conn:
        await repository.finish(conn, job_id, status="succeeded", result=result)
    seconds = time.perf_counter() - started
    _observe_job(metrics, "succeeded", seconds)
    log.info(
        "index_job_succeeded",
        indexed_files=result["indexed_files"],
        failed_files=result["failed_files"],
        indexed_chunks=result["indexed_chunks"],
        duration_s=round(seconds, 3),
    )


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
    pool: asyncpg.Pool,
    embedders: Embedders,
    job_id: UUID,
    request: IndexRequest,
    metrics: Metrics | None,
) -> dict[str, Any]:
    files = request.files
    totals = {"indexed_files": 0, "indexed_chunks": 0, "unchanged_files": 0, "failed_files": 0}
    errors: list[dict[str, str]] = []
    last: dict[str, Any] = {}
    for start in range(0, len(files), BATCH_FILES):
        batch = files[start : start + BATCH_FILES]
        is_last = start + BATCH_FILES >= len(files)
        part = request.model_copy(
            update={
                "files": batch,
                "full_snapshot": False,
                "build_graph": request.build_graph and is_last,
            }
        )
        async with pool.acquire() as conn:
            removed = 0
            if is_last and request.full_snapshot:  # before the graph is rebuilt
                removed = await code_index.remove_absent(
                    conn, request.repository, [f.path for f in files]
                )
            outcome = await code_index.index_files(conn, embedders, part, max_files=BATCH_FILES)
            outcome = outcome.model_copy(update={"removed_files": removed})
            _observe_batch(metrics, outcome)
            for key in totals:
                totals[key] += getattr(outcome, key)
            errors += [e.model_dump() for e in (*outcome.errors, *outcome.skipped_files)]
            await repository.progress(
                conn,
                job_id,
                processed=start + len(batch),
                chunks=totals["indexed_chunks"],
                errors=errors,
            )
        last = outcome.model_dump()
    return {
        **totals,
        "removed_files": last.get("removed_files", 0),
        "indexed_nodes": last.get("indexed_nodes", 0),
        "indexed_edges": last.get("indexed_edges", 0),
    }


async def work(
    pool: asyncpg.Pool,
    embedders: Embedders,
    stop: asyncio.Event,
    *,
    worker: str,
    poll_seconds: float = 1.0,
    metrics: Metrics | None = None,
) -> None:
    """Run jobs until `stop` is set, polling for new ones every `poll_seconds`."""
    while not stop.is_set():
        try:
            ran = await run_next(pool, embedders, worker=worker, metrics=metrics)
        except Exception:  # e.g. the database went away: wait and try again
            log.exception("index_worker_error", worker=worker)
            ran = False
        if not ran:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
