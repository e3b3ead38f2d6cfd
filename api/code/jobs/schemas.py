"""Request and response shapes of background index jobs."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from api.code.index.schemas import FileError

JobStatus = Literal["queued", "running", "succeeded", "failed"]


class JobRead(BaseModel):
    id: UUID
    repository: str
    status: JobStatus
    total_files: int
    processed_files: int
    progress: float
    indexed_chunks: int
    errors: list[FileError]
    # The totals so far while the job runs (or waits to be resumed), the outcome once it ended.
    result: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class QueueStats(BaseModel):
    """Jobs waiting and in progress, for the metrics (ages in seconds, 0 when there is none)."""

    queued: int
    running: int
    oldest_queued_seconds: float
    oldest_running_seconds: float


class Lease(BaseModel):
    """Who may write a running job: the worker that claimed it, at that attempt."""

    job_id: UUID
    worker: str
    attempt: int


class ClaimedJob(BaseModel):
    """A job taken by a worker, with the progress of earlier attempts to resume from.

    The claim is across tenants; the job then runs as its own tenant."""

    tenant_id: UUID
    id: UUID
    worker: str
    attempts: int
    request: dict[str, Any]
    processed_files: int
    indexed_chunks: int
    errors: list[dict[str, Any]]
    result: dict[str, Any] | None

    @property
    def lease(self) -> Lease:
        return Lease(job_id=self.id, worker=self.worker, attempt=self.attempts)
