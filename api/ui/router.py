"""The web UI: HTML pages and HTMX fragments, built on the same services as the JSON API.

A normal request gets the whole page; an HTMX request (`HX-Request`) gets the page's `content`
block only. Responses say `Vary: HX-Request` so caches keep the two apart.
"""

import contextlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from pydantic import ValidationError

from api.code_index import service as code_index
from api.database import Conn
from api.dependencies import EmbedderDep, make_filters
from api.errors import AppError
from api.events import service as events
from api.events.exceptions import EventNotFound
from api.health import service as health
from api.search import service as search
from api.search.dependencies import TuningDep
from api.search.schemas import SearchRequest

PAGE_SIZE = 20

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[2] / "templates")


def highlight(text: str, query: str | None) -> Markup:
    """Escape `text` and mark the query's words (two letters or more) in it."""
    escaped = escape(text)
    words = sorted({w for w in re.findall(r"\w{2,}", query or "")}, key=len, reverse=True)
    if not words:
        return escaped
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    return Markup(pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", str(escaped)))


def compact_json(value: Any) -> str:
    """JSON for reading (autoescaping makes it safe; `tojson` would show `<` as \\u003c)."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


TEMPLATES.env.filters.update(
    highlight=highlight, compact_json=compact_json, pretty_json=pretty_json
)

router = APIRouter(prefix="/ui", include_in_schema=False)


def render(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    context = {"request": request, **context}
    if request.headers.get("HX-Request") == "true":
        template = TEMPLATES.get_template(name)
        # A request aimed at a named block (hx-target="#results") gets that block only.
        block = request.headers.get("HX-Target") or ""
        block = block if block in template.blocks else "content"
        html = "".join(template.blocks[block](template.new_context(context)))
        response = HTMLResponse(html, status_code=status_code)
    else:
        response = TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Vary"] = "HX-Request"
    return response


@router.get("", response_class=HTMLResponse)
async def dashboard(request: Request, conn: Conn) -> HTMLResponse:
    """Counts, health, models, recent events and indexed repositories."""
    event_count, estimated = await events.count_events(conn)
    recent = await events.list_events(conn, filters=None, limit=10, offset=0)
    repositories = (await code_index.list_repositories(conn)).repositories
    _, report = await health.health_report(
        request.state.pool, request.state.embedders, head=request.app.state.schema_head
    )
    return render(
        request,
        "dashboard.html",
        {
            "page": "dashboard",
            "event_count": event_count,
            "event_count_estimated": estimated,
            "recent": recent.data,
            "repositories": repositories,
            "chunk_count": sum(repo.chunk_count for repo in repositories),
            "health": report,
        },
    )


def metadata_value(raw: str) -> Any:
    """A form value as JSON when it is (numbers, true/false, null), else the text itself."""
    try:
        return json.loads(raw)
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
        listing = await events.list_events(
            conn, filters=filters, limit=PAGE_SIZE, offset=max(offset, 0)
        )
    except (AppError, ValueError) as exc:
        detail = exc.detail if isinstance(exc, AppError) else str(exc)
        context["error"] = f"Invalid filter: {detail}"
        listing = await events.list_events(conn, filters=None, limit=PAGE_SIZE, offset=0)
    return render(request, "events.html", {**context, "page": listing, "page_url": page_url})


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
    return render(request, "event.html", context)


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
    with contextlib.suppress(EventNotFound):  # the page then says it is gone
        await events.merge_metadata(
            conn, event_id, {key: metadata_value(str(form.get("value") or ""))}
        )
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
    conn: Conn,
    embedder: EmbedderDep,
    tuning: TuningDep,
    q: str | None = None,
    mode: str = "hybrid",
    key: str | None = None,
    value: str | None = None,
) -> HTMLResponse:
    """One box over the agent's memory: hybrid, vector or lexical, with a metadata filter."""
    context: dict[str, Any] = {
        "page": "search",
        "q": q,
        "mode": mode,
        "key": key,
        "value": value,
        "result": None,
        "error": None,
    }
    if q and q.strip():
        try:
            metadata = {key: metadata_value(value or "")} if key else None
            request_model = SearchRequest(query=q, mode=mode, metadata=metadata, limit=20)
            context["result"] = await search.search(conn, embedder, request_model, tuning=tuning)
        except ValidationError as exc:
            context["error"] = "; ".join(
                e["msg"].removeprefix("Value error, ") for e in exc.errors()
            )
        except AppError as exc:
            context["error"] = str(exc.detail)
    return render(request, "search.html", context)
