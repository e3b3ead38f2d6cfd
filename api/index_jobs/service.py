"""Background indexing: enqueue a repository's files; a worker indexes them batch by batch."""

import asyncio
import contextlib
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from api.code_index import service as code_index
from api.code_index.schemas import IndexRequest
from api.embeddings.factory import Embedders
from api.errors import NotFound
from api.index_jobs import repository
from api.index_jobs.schemas import JobRead

log = structlog.get_logger(__name__)
BATCH_FILES = 50


class JobNotFound(NotFound):
    error = "job_not_found"


async def enqueue(conn: asyncpg.Connection, request: IndexRequest) -> JobRead:
    return await repository.enqueue(conn, request.repository, request.model_dump(mode="json"))


async def get(conn: asyncpg.Connection, job_id: UUID) -> JobRead:
    job = await repository.get(conn, job_id)
    if job is None:
        raise JobNotFound(f"No index job with id {job_id}.")
    return job


async def run_next(pool: asyncpg.Pool, embedders: Embedders, *, worker: str) -> bool:
    """Run the oldest queued job, if any; True when one ran."""
    async with pool.acquire() as conn:
        claimed = await repository.claim(conn, worker)
    if claimed is None:
        return False
    job_id, payload = claimed
    log.info("index_job_started", job_id=str(job_id), repository=payload["repository"])
    try:
        result = await _index_in_batches(pool, embedders, job_id, IndexRequest(**payload))
    except Exception as exc:  # the job fails, the worker goes on
        log.exception("index_job_failed", job_id=str(job_id))
        async with pool.acquire() as conn:
            await repository.finish(conn, job_id, status="failed", result={"error": repr(exc)})
        return True
    async with pool.acquire() as conn:
        await repository.finish(conn, job_id, status="succeeded", result=result)
    log.info(
        "index_job_succeeded", job_id=str(job_id), **{k: result[k] for k in ("indexed_files",)}
    )
    return True


async def _index_in_batches(
    pool: asyncpg.Pool, embedders: Embedders, job_id: UUID, request: IndexRequest
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
) -> None:
    """Run jobs until `stop` is set, polling for new ones every `poll_seconds`."""
    while not stop.is_set():
        try:
            ran = await run_next(pool, embedders, worker=worker)
        except Exception:  # e.g. the database went away: wait and try again
            log.exception("index_worker_error", worker=worker)
            ran = False
        if not ran:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
