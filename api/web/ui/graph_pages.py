"""The web UI's code graph: a function's neighbourhood, its code, paths between functions.

The graph page embeds its neighbourhood as Cytoscape elements (`graph_elements`) that
`static/js/graph.js` lays out and draws; the same callers and callees are listed in tables for
keyboards, screen readers and tests.
"""

import contextlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.code.graph import service as code_graph
from api.code.graph.schemas import (
    MAX_DEPTH,
    Direction,
    GraphNode,
    Neighbourhood,
    NodeMatch,
    PathResult,
)
from api.code.graph.service import NodeNotFound
from api.code.index import service as code_index
from api.code.index.service import ChunkNotFound
from api.core.database import Conn
from api.web.ui.rendering import hljs_language, render

router = APIRouter(prefix="/code")

# Beyond this many nodes a drawing is a hairball; the page says how many it left out.
MAX_NODES = 150
DEPTHS = (1, 2, 3)
DIRECTIONS: dict[str, Direction] = {"both": "both", "callers": "callers", "callees": "callees"}


def parse_id(raw: str, what: str) -> UUID:
    try:
        return UUID(raw.strip())
    except ValueError:
        raise ValueError(f"“{raw}” is not a valid {what} id.") from None


def graph_options(depth: str, direction: str) -> tuple[int, Direction]:
    """Checked here, not by FastAPI, so a bad value gets a message on the page, not JSON."""
    if depth.strip() not in {str(d) for d in DEPTHS}:
        raise ValueError(f"Depth must be 1, 2 or 3 (got “{depth}”).")
    if direction not in DIRECTIONS:
        raise ValueError(f"Direction must be both, callers or callees (got “{direction}”).")
    return int(depth), DIRECTIONS[direction]


def graph_elements(hood: Neighbourhood) -> dict[str, Any]:
    """The neighbourhood as Cytoscape elements, for `graph.js` to lay out and draw."""

    def node(item: GraphNode) -> dict[str, Any]:
        external = item.kind == "external"
        return {
            "data": {
                "id": str(item.id),
                "label": item.qualified_name,
                "kind": item.kind,
                "role": item.role,
                "depth": item.depth,
                "file": item.file_path,
                "line": item.start_line,
                "chunk_id": str(item.chunk_id) if item.chunk_id else None,
            },
            "classes": f"{item.role} external" if external else item.role,
        }

    edges = [
        {
            "data": {
                "id": f"{edge.source}->{edge.target}",
                "source": str(edge.source),
                "target": str(edge.target),
                "relationship": edge.relationship,
            }
        }
        for edge in hood.edges
    ]
    return {
        "start": str(hood.start.id),
        "nodes": [node(item) for item in (hood.start, *hood.nodes)],
        "edges": edges,
    }


@dataclass
class PathView:
    """The path finder's question and answer, for `graph_path.html`."""

    source: str = ""
    target: str = ""
    repository: str | None = None
    error: str | None = None
    source_choices: list[NodeMatch] = field(default_factory=list)
    target_choices: list[NodeMatch] = field(default_factory=list)
    found: PathResult | None = None

    def url(self, *, source: str, target: str) -> str:
        query = {"source": source, "target": target}
        if self.repository:
            query["repository"] = self.repository
        return "/ui/code/graph/path?" + urlencode(query)


@dataclass
class GraphView:
    """What the graph page shows: the picker's state, the neighbourhood, the path finder."""

    repository: str | None = None
    q: str = ""
    depth: int = 1
    direction: Direction = "both"
    error: str | None = None
    notice: str | None = None
    candidates: list[NodeMatch] = field(default_factory=list)
    suggestions: list[NodeMatch] = field(default_factory=list)
    hood: Neighbourhood | None = None
    path: PathView | None = None

    def url(self, *, node: UUID | str) -> str:
        """The graph page centred on `node`, with the same depth, direction and repository."""
        query = {"node": str(node), "depth": self.depth, "direction": self.direction}
        if self.repository:
            query["repository"] = self.repository
        return "/ui/code/graph?" + urlencode(query)

    def side(self, role: str) -> list[GraphNode]:
        """The callers (or callees) shown; a node both calling and called is on both sides."""
        wanted = "caller_depth" if role == "callers" else "callee_depth"
        return [n for n in self.hood.nodes if getattr(n, wanted) is not None] if self.hood else []


def htmx_target(request: Request) -> str | None:
    if request.headers.get("HX-Request") != "true":
        return None
    return request.headers.get("HX-Target") or ""


async def graph_context(conn: asyncpg.Connection, view: GraphView) -> dict[str, Any]:
    repositories = (await code_index.list_repositories(conn)).repositories
    data = graph_elements(view.hood) if view.hood else None
    return {
        "page": "graph",
        "view": view,
        "repositories": repositories,
        "graph_data": data,
        "max_depth": MAX_DEPTH,
    }


@router.get("/chunks/{chunk_id}", response_class=HTMLResponse)
async def chunk_page(chunk_id: str, request: Request, conn: Conn) -> HTMLResponse:
    """One chunk: its code, signature and docstring, with its callers and callees."""
    panel = htmx_target(request) == "code-panel"
    try:
        chunk = await code_index.get_chunk(conn, parse_id(chunk_id, "chunk"))
    except (ValueError, ChunkNotFound) as exc:
        message = exc.detail if isinstance(exc, ChunkNotFound) else str(exc)
        if panel:
            return render(request, "chunk_panel.html", {"missing": message}, status_code=404)
        context = {"message": message, "back": "/ui/code/graph", "page": "graph"}
        return render(request, "not_found.html", context, status_code=404)
    callers = callees = None
    try:
        callers = (await code_graph.callers_or_callees(conn, chunk.id, callees=False)).nodes
        callees = (await code_graph.callers_or_callees(conn, chunk.id, callees=True)).nodes
    except NodeNotFound:
        pass  # a module or text window, or a repository indexed without its graph
    context = {
        "page": "graph",
        "chunk": chunk,
        "language": hljs_language(chunk.language),
        "callers": callers,
        "callees": callees,
    }
    return render(request, "chunk_panel.html" if panel else "chunk.html", context)


async def start_node(
    conn: asyncpg.Connection, view: GraphView, *, node: str, chunk: str
) -> UUID | None:
    """The node to centre on: by id, by chunk, or by name (else candidates or a notice)."""
    if node:
        return parse_id(node, "node")
    if chunk:
        return (await code_graph.node_of_chunk(conn, parse_id(chunk, "chunk"))).id
    if not view.q:
        return None
    matches = await code_graph.resolve(conn, view.q, repository_name=view.repository)
    if len(matches) == 1:
        return matches[0].id
    if matches:
        view.candidates = matches
        view.notice = f"{len(matches)} functions are named “{view.q}”: choose one."
    else:
        view.suggestions = await code_graph.suggest(conn, view.q, repository_name=view.repository)
        view.notice = f"No function is named “{view.q}”." + (
            " Did you mean one of these?" if view.suggestions else ""
        )
    return None


@router.get("/graph", response_class=HTMLResponse)
async def graph_page(
    request: Request,
    conn: Conn,
    repository: str = "",
    q: str = "",
    chunk: str = "",
    node: str = "",
    depth: str = "1",
    direction: str = "both",
) -> HTMLResponse:
    """A function's callers and callees, drawn and listed; a picker until one is chosen."""
    view = GraphView(repository=repository or None, q=q.strip())
    status_code = 200
    try:
        view.depth, view.direction = graph_options(depth, direction)
        start = await start_node(conn, view, node=node, chunk=chunk)
        if start is not None:
            view.hood = await code_graph.neighbourhood(
                conn, start, direction=view.direction, max_depth=view.depth, max_nodes=MAX_NODES
            )
    except ValueError as exc:
        view.error, status_code = str(exc), 422
    except NodeNotFound as exc:
        view.error, status_code = str(exc.detail), 404
    context = await graph_context(conn, view)
    return render(request, "graph.html", context, status_code=status_code)


@router.get("/graph/suggest", response_class=HTMLResponse)
async def suggest(
    request: Request,
    conn: Conn,
    q: str = "",
    repository: str = "",
    depth: str = "1",
    direction: str = "both",
) -> HTMLResponse:
    """The picker's live suggestions: functions whose name contains the text typed."""
    view = GraphView(repository=repository or None, q=q.strip())
    with contextlib.suppress(ValueError):  # the suggestions' links then use the defaults
        view.depth, view.direction = graph_options(depth, direction)
    view.suggestions = await code_graph.suggest(conn, view.q, repository_name=view.repository)
    if htmx_target(request) == "suggestions":
        # Asked on every keystroke: skip what only the whole page shows.
        return render(request, "graph.html", {"view": view})
    return render(request, "graph.html", await graph_context(conn, view))


async def find_path(conn: asyncpg.Connection, path: PathView) -> PathView:
    if not path.source or not path.target:
        path.error = "Give both ends: the function to start from and the one to reach."
        return path
    path.source_choices = await code_graph.resolve(
        conn, path.source, repository_name=path.repository
    )
    path.target_choices = await code_graph.resolve(
        conn, path.target, repository_name=path.repository
    )
    missing = [
        f"“{text}”"
        for text, found in ((path.source, path.source_choices), (path.target, path.target_choices))
        if not found
    ]
    if missing:
        path.error = f"No function is named {' or '.join(missing)}."
    elif len(path.source_choices) == 1 and len(path.target_choices) == 1:
        path.found = await code_graph.shortest_path(
            conn,
            path.source_choices[0].id,
            path.target_choices[0].id,
            relationship="calls",
            max_depth=MAX_DEPTH,
        )
    return path


@router.get("/graph/path", response_class=HTMLResponse)
async def path_page(
    request: Request, conn: Conn, source: str = "", target: str = "", repository: str = ""
) -> HTMLResponse:
    """A shortest chain of calls from one function to another, named or by id."""
    path = PathView(source=source.strip(), target=target.strip(), repository=repository or None)
    view = GraphView(repository=path.repository, path=await find_path(conn, path))
    if htmx_target(request) is not None:
        return render(request, "graph_path.html", {"view": view, "max_depth": MAX_DEPTH})
    return render(request, "graph.html", await graph_context(conn, view))
