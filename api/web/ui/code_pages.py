"""The web UI's code pages: repositories, indexing from the browser, code search.

Errors a user can fix (a bad upload, an unknown job, an invalid query) answer 4xx with a
`role="alert"` fragment; `static/js/code.js` lets htmx swap those in, as htmx 2 does not.
"""

import math
import time
from typing import Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from api.code.index import service as code_index
from api.code.index import uploads
from api.code.index.service import RepositoryNotFound
from api.code.jobs import service as index_jobs
from api.code.jobs import uploads as job_uploads
from api.code.jobs.service import JobNotFound
from api.code.search import service as code_search
from api.code.search.schemas import (
    CodeFilters,
    CodeHit,
    HybridSearchRequest,
    LexicalSearchRequest,
    VectorSearchRequest,
)
from api.core.database import Conn, Database, DatabaseDep
from api.core.dependencies import MetricsDep, SettingsDep, TuningDep
from api.core.errors import AppError, InvalidInput, clean_message
from api.core.metrics import Metrics
from api.core.vectors.schemas import SearchTuning
from api.embeddings.dependencies import EmbeddersDep
from api.embeddings.factory import Embedders
from api.web.ui.rendering import render

router = APIRouter(prefix="/code")

MODES = ("hybrid", "lexical", "vector")
RESULTS = 20
# The upload form's file inputs, and the `unpack` argument each one fills.
UPLOAD_FIELDS = {"files": "files", "folder": "folder", "archive": "archives"}


async def _code_page(
    request: Request, conn: asyncpg.Connection, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """code.html: the repositories table and the upload form, with whatever `context` adds."""
    repositories = (await code_index.list_repositories(conn)).repositories
    settings = request.app.state.settings
    page = {
        "page": "code",
        "repositories": repositories,
        "max_files": uploads.MAX_UPLOAD_FILES,
        "max_bytes": settings.max_request_bytes,
        **context,
    }
    return render(request, "code.html", page, status_code=status_code)


@router.get("", response_class=HTMLResponse)
async def code_page(request: Request, conn: Conn) -> HTMLResponse:
    """Indexed repositories, and a form to index code from the browser."""
    return await _code_page(request, conn)


@router.delete("/repositories/{name:path}", response_class=HTMLResponse)
async def delete_repository(name: str, request: Request, conn: Conn) -> HTMLResponse:
    """Delete a repository's index, then show the refreshed repositories table."""
    try:
        deleted = await code_index.delete_repository(conn, name)
    except RepositoryNotFound as exc:
        return await _code_page(request, conn, status_code=404, repositories_error=exc.detail)
    notice = (
        f"Deleted {deleted.repository}: {deleted.deleted_files} files, "
        f"{deleted.deleted_chunks} chunks."
    )
    return await _code_page(request, conn, notice=notice)


@router.post("/upload", response_class=HTMLResponse)
async def upload(request: Request, conn: Conn, settings: SettingsDep) -> HTMLResponse:
    """Queue uploaded files, a folder or archives for indexing; show the job's progress."""
    parts: dict[str, list[uploads.Upload]] = {name: [] for name in UPLOAD_FIELDS.values()}
    try:
        # No count limit here: the body size limit bounds the parts, and `unpack` reports
        # the files over MAX_UPLOAD_FILES instead of refusing the whole upload.
        async with request.form(max_files=math.inf) as form:
            name = str(form.get("repository") or "")
            for field, key in UPLOAD_FIELDS.items():
                for item in form.getlist(field):
                    if isinstance(item, UploadFile) and item.filename:
                        parts[key].append(uploads.Upload(item.filename, await item.read()))
    except HTTPException as exc:  # the body is too large or not multipart
        return await _code_page(request, conn, status_code=exc.status_code, upload_error=exc.detail)
    try:
        queued = await job_uploads.index_upload(
            conn,
            name,
            **parts,
            max_bytes=settings.max_request_bytes,
            max_unpacked=settings.code_upload_max_unpacked_bytes,
        )
    except AppError as exc:
        dropped = exc.dropped if isinstance(exc, uploads.BadUpload) else []
        return await _code_page(
            request, conn, status_code=exc.status_code, upload_error=exc.detail, dropped=dropped
        )
    return await _code_page(request, conn, status_code=202, job=queued.job, dropped=queued.dropped)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(job_id: str, request: Request, conn: Conn) -> HTMLResponse:
    """An index job's status and progress; the fragment polls itself until the job ends."""
    message = f"No index job with id {job_id}."
    try:
        job = await index_jobs.get(conn, UUID(job_id))
    except (ValueError, JobNotFound):
        context = {"page": "code", "job": None, "message": message}
        return render(request, "code_job.html", context, status_code=404)
    response = render(request, "code_job.html", {"page": "code", "job": job})
    if job.status in ("succeeded", "failed"):
        response.headers["HX-Trigger"] = "repositories-changed"
    return response


async def _search(
    database: Database,
    embedders: Embedders,
    tuning: SearchTuning,
    *,
    mode: str,
    query: str,
    filters: CodeFilters,
    metrics: Metrics,
) -> tuple[list[CodeHit], float]:
    """The mode's hits and the time they took (ms); a request model per mode, as in the API.

    The query is embedded before a connection is taken, as in the API's routes."""
    started = time.perf_counter()
    hits: list[CodeHit]
    if mode == "hybrid":
        hybrid = HybridSearchRequest(query=query, filters=filters, top_k=RESULTS)
        hybrid_found = await code_search.hybrid_embed_first(
            database, embedders, hybrid, tuning=tuning, metrics=metrics
        )
        hits = hybrid_found.results
    elif mode == "lexical":
        lexical = LexicalSearchRequest(query=query, filters=filters, limit=RESULTS)
        async with database.connection() as conn:
            found = await code_search.lexical(conn, lexical, tuning=tuning, metrics=metrics)
            hits = found.results
    elif mode == "vector":
        vector = VectorSearchRequest(query=query, filters=filters, limit=RESULTS)
        vector_found = await code_search.vector_embed_first(
            database, embedders, vector, tuning=tuning, metrics=metrics
        )
        hits = vector_found.results
    else:
        raise InvalidInput(f"Unknown mode {mode!r}: choose hybrid, lexical or vector.")
    return hits, round((time.perf_counter() - started) * 1000, 1)


@router.get("/search", response_class=HTMLResponse)
async def search_page(
    request: Request,
    database: DatabaseDep,
    embedders: EmbeddersDep,
    tuning: TuningDep,
    metrics: MetricsDep,
    q: str | None = None,
    mode: str = "hybrid",
    repository: str | None = None,
    language: str | None = None,
    kind: str | None = None,
) -> HTMLResponse:
    """Code search (hybrid, lexical or vector), filtered by repository, language and kind."""
    context: dict[str, Any] = {
        "page": "code-search",
        "q": q,
        "mode": mode,
        "modes": MODES,
        "selected": {"repository": repository, "language": language, "kind": kind},
        "hits": None,
        "error": None,
    }
    status_code = 200
    if q and q.strip():
        try:
            # A select's "any" option sends an empty value.
            filters = CodeFilters(
                repository=repository or None, language=language or None, chunk_type=kind or None
            )
            context["hits"], context["elapsed_ms"] = await _search(
                database, embedders, tuning, mode=mode, query=q, filters=filters, metrics=metrics
            )
        except ValidationError as exc:
            context["error"] = "; ".join(_message(error) for error in exc.errors())
            status_code = 422
        except AppError as exc:
            context["error"] = str(exc.detail)
            status_code = 422
    async with database.connection() as conn:
        listed = (await code_index.list_repositories(conn)).repositories
        context["options"] = {
            "repository": [summary.repository for summary in listed],
            "language": await code_search.languages(conn),
            "kind": await code_search.chunk_kinds(conn),
        }
    return render(request, "code_search.html", context, status_code=status_code)


FIELD_NAMES = {
    "query": "Query",
    "repository": "Repository",
    "language": "Language",
    "chunk_type": "Kind",
}


def _message(error: Any) -> str:
    """A validation error as the form names its field ("Query: String should have...")."""
    field = ".".join(str(part) for part in error.get("loc", ()))
    name = FIELD_NAMES.get(field, field)
    return f"{name}: {clean_message(error['msg'])}" if name else clean_message(error["msg"])
