"""HTTP routes of background index jobs."""

from uuid import UUID

from fastapi import APIRouter, status

from api.code.index.schemas import IndexRequest
from api.code.jobs import service
from api.code.jobs.schemas import JobRead
from api.core.database import Conn

router = APIRouter(prefix="/v1/code/index/jobs", tags=["code"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobRead)
async def create_job(request: IndexRequest, conn: Conn) -> JobRead:
    """Queue a repository's files for indexing in the background; poll the job for progress."""
    return await service.enqueue(conn, request)


@router.get("/{job_id}", response_model=JobRead)
async def get_job(job_id: UUID, conn: Conn) -> JobRead:
    """A job's status, progress and per-file errors."""
    return await service.get(conn, job_id)
