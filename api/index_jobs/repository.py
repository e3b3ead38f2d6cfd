"""SQL of index jobs: enqueue, claim (SKIP LOCKED), progress, finish, read, queue stats."""

import json
from typing import Any
from uuid import UUID

import asyncpg

from api.index_jobs.schemas import JobRead, QueueStats

JOB_COLUMNS = (
    "id, repository, status, total_files, processed_files, indexed_chunks, errors, result, "
    "created_at, started_at, finished_at"
)


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
    record = await conn.fetchrow(f"SELECT {JOB_COLUMNS} FROM index_jobs WHERE id = $1", job_id)
    return to_job(record) if record else None


async def claim(conn: asyncpg.Connection, worker: str) -> tuple[UUID, dict[str, Any]] | None:
    """Take the oldest queued job; several workers never take the same one."""
    record = await conn.fetchrow(
        """
        UPDATE index_jobs SET status = 'running', started_at = now(), worker = $1
        WHERE id = (
            SELECT id FROM index_jobs WHERE status = 'queued'
            ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1
        )
        RETURNING id, request
        """,
        worker,
    )
    return (record["id"], json.loads(record["request"])) if record else None


async def progress(
    conn: asyncpg.Connection, job_id: UUID, *, processed: int, chunks: int, errors: list[Any]
) -> None:
    await conn.execute(
        """
        UPDATE index_jobs SET processed_files = $2, indexed_chunks = $3, errors = $4
        WHERE id = $1
        """,
        job_id,
        processed,
        chunks,
        errors,
    )


async def finish(
    conn: asyncpg.Connection, job_id: UUID, *, status: str, result: dict[str, Any] | None
) -> None:
    """End a job; its request (the files) is no longer needed."""
    await conn.execute(
        """
        UPDATE index_jobs SET status = $2, result = $3, finished_at = now(), request = NULL
        WHERE id = $1
        """,
        job_id,
        status,
        result,
    )


async def queue_stats(conn: asyncpg.Connection) -> QueueStats:
    """Counts and ages of queued and running jobs, read on every metrics scrape.

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
