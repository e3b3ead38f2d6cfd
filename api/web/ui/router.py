"""The web UI's memory pages: dashboard, events and search, on the same services as the API.

The code pages live in `code_pages.py` and `graph_pages.py`; rendering in `rendering.py`.
"""

import contextlib
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from api.code.index import service as code_index
from api.core.database import Conn, DatabaseDep
from api.core.dependencies import MAX_OFFSET, MetricsDep, TuningDep
from api.core.errors import AppError, InvalidInput
from api.core.json_limits import too_deep_message
from api.embeddings.dependencies import EmbedderDep
from api.memory.events import service as events
from api.memory.events.dependencies import make_filters
from api.memory.events.exceptions import EventNotFound, UnrenderableEvent
from api.memory.search import service as search
from api.memory.search.schemas import SearchRequest
from api.ops.health import service as health
from api.web.ui import code_pages, graph_pages
from api.web.ui.rendering import render

PAGE_SIZE = 20

router = APIRouter(prefix="/ui", include_in_schema=False)
router.include_router(code_pages.router)
router.include_router(graph_pages.router)


@router.get("", response_class=HTMLResponse)
async def dashboard(request: Request, conn: Conn, days: int = 30) -> HTMLResponse:
    """Counts, events over time, health, models, recent events and indexed repositories."""
    if days not in events.ACTIVITY_RANGES:
        days = 30
    activity = await events.activity(conn, days=days)
    event_count, estimated = await events.count_events(conn)
    recent = await events.list_events(conn, filters=None, limit=10, offset=0)
    repositories = (await code_index.list_repositories(conn)).repositories
    _, report = await health.health_report(
        request.state.pool,
        request.state.embedders,
        head=request.app.state.schema_head,
        lexical_ranking=request.app.state.search_tuning.lexical_ranking,
    )
    return render(
        request,
        "dashboard.html",
        {
            "page": "dashboard",
            "event_count": event_count,
            "event_count_estimated": estimated,
            "activity": activity,
            "activity_ranges": list(events.ACTIVITY_RANGES),
            "recent": recent.data,
            "repositories": repositories,
            "chunk_count": sum(repo.chunk_count for repo in repositories),
            "health": report,
        },
    )


def metadata_value(raw: str) -> Any:
    """A form value as JSON when it is (numbers, true/false, null), else the text itself.

    ValueError for JSON nested too deeply for Python's parser: taken as text it would be stored
    as a string the user did not mean.
    """
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError(f"the value is {too_deep_message()}") from None
    except ValueError:
        return raw


def when(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


@router.get("/events", response_class=HTMLResponse)
async def events_page(
    request: Request,
    conn: Conn,
    key: str | None = None,
    value: str | None = None,
    ts_start: str | None = None,
    ts_end: str | None = None,
    offset: int = 0,
) -> HTMLResponse:
    """Events, newest first, filtered by a metadata key/value and a time window."""
    query = {"key": key, "value": value, "ts_start": ts_start, "ts_end": ts_end}
    context: dict[str, Any] = {"page": "events", **query, "error": None}

    def page_url(new_offset: int) -> str:
        kept = {name: item for name, item in query.items() if item}
        return "/ui/events?" + urlencode({**kept, "offset": max(new_offset, 0)})

    try:
        metadata = {key: metadata_value(value or "")} if key else None
        filters = make_filters(metadata, when(ts_start), when(ts_end))
        # Clamped, not refused: a hand-edited URL still gets a page (the API answers 422).
        listing = await events.list_events(
            conn, filters=filters, limit=PAGE_SIZE, offset=min(max(offset, 0), MAX_OFFSET)
        )
    except (AppError, ValueError) as exc:
        detail = exc.detail if isinstance(exc, AppError) else str(exc)
        context["error"] = f"Invalid filter: {detail}"
        listing = await events.list_events(conn, filters=None, limit=PAGE_SIZE, offset=0)
    status_code = 422 if context["error"] else 200  # the page still lists the latest events
    context.update(listing=listing, page_url=page_url)
    return render(request, "events.html", context, status_code=status_code)


async def _event_page(
    request: Request,
    conn: Any,
    embedder: Any,
    tuning: Any,
    event_id: UUID,
    *,
    error: str | None = None,
) -> HTMLResponse:
    try:
        event = await events.get_event(conn, event_id, include_embedding=True)
    except EventNotFound as exc:
        context = {"message": exc.detail, "back": "/ui/events", "page": "events"}
        return render(request, "not_found.html", context, status_code=404)
    except UnrenderableEvent as exc:
        # Written by SQL or an older version: say why, and still offer to delete it.
        context = {"message": exc.detail, "event_id": event_id, "page": "events"}
        return render(request, "event_unrenderable.html", context, status_code=409)
    neighbours = []
    if event.embedding is not None:
        similar = await search.search(
            conn,
            embedder,
            SearchRequest(vector=event.embedding, mode="vector", limit=6),
            tuning=tuning,
        )
        neighbours = [hit for hit in similar.data if hit.id != event.id][:5]
    shown = event.model_copy(update={"embedding": None})
    context = {"page": "events", "event": shown, "neighbours": neighbours, "error": error}
    return render(request, "event.html", context, status_code=422 if error else 200)


@router.get("/events/{event_id}", response_class=HTMLResponse)
async def event_page(
    event_id: UUID, request: Request, conn: Conn, embedder: EmbedderDep, tuning: TuningDep
) -> HTMLResponse:
    """One event: content, metadata, similar events, editing and deletion."""
    return await _event_page(request, conn, embedder, tuning, event_id)


@router.post("/events/{event_id}/metadata", response_class=HTMLResponse)
async def set_metadata(
    event_id: UUID, request: Request, conn: Conn, embedder: EmbedderDep, tuning: TuningDep
) -> HTMLResponse:
    """Set one metadata key (shallow merge, as PATCH /v1/events/{id}/metadata)."""
    form = await request.form()
    key = str(form.get("key") or "").strip()
    if not key:
        return await _event_page(request, conn, embedder, tuning, event_id, error="Give a key.")
    try:
        patch = {key: metadata_value(str(form.get("value") or ""))}
        with contextlib.suppress(EventNotFound):  # the page then says it is gone
            await events.merge_metadata(conn, event_id, patch)
    except ValueError as exc:
        error = f"Invalid value: {exc}"
        return await _event_page(request, conn, embedder, tuning, event_id, error=error)
    except InvalidInput as exc:
        return await _event_page(request, conn, embedder, tuning, event_id, error=str(exc.detail))
    return await _event_page(request, conn, embedder, tuning, event_id)


@router.delete("/events/{event_id}")
async def delete_event(event_id: UUID, conn: Conn) -> Response:
    """Delete an event, then send the browser back to the list."""
    with contextlib.suppress(EventNotFound):  # already gone: the list is right either way
        await events.delete_event(conn, event_id)
    return Response(status_code=200, headers={"HX-Redirect": "/ui/events"})


@router.get("/search", response_class=HTMLResponse)
async def search_page(
    request: Request,
    database: DatabaseDep,
    embedder: EmbedderDep,
    tuning: TuningDep,
    metrics: MetricsDep,
    q: str | None = None,
    mode: str = "hybrid",
    key: str | None = None,
    value: str | None = None,
    ts_start: str | None = None,
    ts_end: str | None = None,
) -> HTMLResponse:
    """One box over the agent's memory: hybrid, vector or lexical, metadata and time filters."""
    context: dict[str, Any] = {
        "page": "search",
        "q": q,
        "mode": mode,
        "key": key,
        "value": value,
        "ts_start": ts_start,
        "ts_end": ts_end,
        "result": None,
        "error": None,
    }
    if q and q.strip():
        try:
            try:
                metadata = {key: metadata_value(value or "")} if key else None
            except ValueError as exc:
                raise InvalidInput(f"Invalid filter: {exc}") from None
            request_model = SearchRequest(
                query=q,
                mode=mode,
                metadata=metadata,
                ts_start=when(ts_start),
                ts_end=when(ts_end),
                limit=20,
            )
            context["result"] = await search.search_embed_first(
                database, embedder, request_model, tuning=tuning, metrics=metrics
            )
        except ValidationError as exc:
            context["error"] = "; ".join(
                e["msg"].removeprefix("Value error, ") for e in exc.errors()
            )
        except ValueError as exc:  # a date that does not parse (after: ValidationError is one)
            context["error"] = f"Invalid time: {exc}"
        except AppError as exc:
            context["error"] = str(exc.detail)
    return render(request, "search.html", context, status_code=422 if context["error"] else 200)
