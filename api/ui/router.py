"""The web UI: HTML pages and HTMX fragments, built on the same services as the JSON API.

A normal request gets the whole page; an HTMX request (`HX-Request`) gets the page's `content`
block only. Responses say `Vary: HX-Request` so caches keep the two apart.
"""

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.code_index import service as code_index
from api.database import Conn
from api.events import service as events
from api.health import service as health

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[2] / "templates")

router = APIRouter(prefix="/ui", include_in_schema=False)


def render(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    context = {"request": request, **context}
    if request.headers.get("HX-Request") == "true":
        template = TEMPLATES.get_template(name)
        html = "".join(template.blocks["content"](template.new_context(context)))
        response = HTMLResponse(html)
    else:
        response = TEMPLATES.TemplateResponse(request, name, context)
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
