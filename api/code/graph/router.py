"""HTTP routes of the code graph (paths of MnemoLite v1, plus callers/callees of a chunk)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.code.graph import service
from api.code.graph.schemas import (
    DEFAULT_MAX_NODES,
    MAX_DEPTH,
    MAX_NODES,
    BuildRequest,
    BuildResult,
    GraphStats,
    PathRequest,
    PathResult,
    TraverseRequest,
    TraverseResult,
)
from api.core.database import Conn, ReadConn

router = APIRouter(prefix="/v1/code/graph", tags=["code"])
Depth = Annotated[int, Query(ge=1, le=MAX_DEPTH)]
MaxNodes = Annotated[int, Query(ge=1, le=MAX_NODES, description="Most nodes returned.")]


@router.post("/build", response_model=BuildResult)
async def build(request: BuildRequest, conn: Conn) -> BuildResult:
    """Rebuild a repository's call graph from its indexed chunks."""
    return await service.rebuild(conn, request.repository)


@router.post("/traverse", response_model=TraverseResult)
async def traverse(request: TraverseRequest, conn: ReadConn) -> TraverseResult:
    """Nodes reachable from a node, following edges out of (or into) it."""
    return await service.traverse(
        conn,
        request.start_node_id,
        outbound=request.direction == "outbound",
        relationship=request.relationship,
        max_depth=request.max_depth,
        max_nodes=request.max_nodes,
    )


@router.post("/path", response_model=PathResult)
async def path(request: PathRequest, conn: ReadConn) -> PathResult:
    """A shortest directed path between two nodes."""
    return await service.shortest_path(
        conn,
        request.source_node_id,
        request.target_node_id,
        relationship=request.relationship,
        max_depth=request.max_depth,
    )


@router.get("/stats/{repository:path}", response_model=GraphStats)
async def stats(repository: str, conn: ReadConn) -> GraphStats:
    """Node and edge counts of a repository's graph."""
    return await service.stats(conn, repository)


@router.get("/chunks/{chunk_id}/callers", response_model=TraverseResult)
async def callers(
    chunk_id: UUID, conn: ReadConn, depth: Depth = 1, max_nodes: MaxNodes = DEFAULT_MAX_NODES
) -> TraverseResult:
    """Functions that call this chunk (to `depth` levels, the nearest `max_nodes`)."""
    return await service.callers_or_callees(
        conn, chunk_id, callees=False, max_depth=depth, max_nodes=max_nodes
    )


@router.get("/chunks/{chunk_id}/callees", response_model=TraverseResult)
async def callees(
    chunk_id: UUID, conn: ReadConn, depth: Depth = 1, max_nodes: MaxNodes = DEFAULT_MAX_NODES
) -> TraverseResult:
    """Functions this chunk calls (to `depth` levels, the nearest `max_nodes`)."""
    return await service.callers_or_callees(
        conn, chunk_id, callees=True, max_depth=depth, max_nodes=max_nodes
    )
