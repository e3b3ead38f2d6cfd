"""Request and response shapes of background index jobs."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from api.code_index.schemas import FileError

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
