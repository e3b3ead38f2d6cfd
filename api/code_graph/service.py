"""Code graph use cases: (re)build a repository's graph, traverse, shortest path, stats."""

from uuid import UUID

import asyncpg

from api.code_graph import repository
from api.code_graph.schemas import (
    BuildResult,
    GraphStats,
    Node,
    PathResult,
    Reached,
    TraverseResult,
)
from api.code_index.graph import build_graph
from api.errors import NotFound


class NodeNotFound(NotFound):
    error = "node_not_found"


async def rebuild(conn: asyncpg.Connection, repository_name: str) -> BuildResult:
    """Replace a repository's graph with one built from its current chunks.

    Runs in a transaction of its own, or joins the caller's (indexing rebuilds the graph in the
    same transaction as the chunks it changed).
    """
    async with conn.transaction():
        chunks = await repository.repository_chunks(conn, repository_name)
        nodes, edges = await repository.replace_graph(conn, repository_name, build_graph(chunks))
    return BuildResult(repository=repository_name, nodes=nodes, edges=edges)


async def traverse(
    conn: asyncpg.Connection,
    start_id: UUID,
    *,
    outbound: bool,
    relationship: str | None,
    max_depth: int,
) -> TraverseResult:
    """Breadth first, one query per level: each node once, at its smallest depth."""
    start = await _node(conn, start_id)
    seen: dict[UUID, tuple[int, str]] = {start_id: (0, "")}
    frontier = [start_id]
    for depth in range(1, max_depth + 1):
        if not frontier:
            break
        next_frontier = []
        for _, far, relation in await repository.neighbours(
            conn, frontier, outbound=outbound, relationship=relationship
        ):
            if far not in seen:
                seen[far] = (depth, relation)
                next_frontier.append(far)
        frontier = next_frontier
    reached = [node_id for node_id in seen if node_id != start_id]
    rows = await repository.get_nodes(conn, reached)
    nodes = [Reached(**rows[i], depth=seen[i][0], via=seen[i][1]) for i in reached if i in rows]
    nodes.sort(key=lambda node: (node.depth, node.qualified_name))
    return TraverseResult(start=Node(**start), nodes=nodes)


async def callers_or_callees(
    conn: asyncpg.Connection, chunk_id: UUID, *, callees: bool, max_depth: int = 1
) -> TraverseResult:
    node = await repository.node_of_chunk(conn, chunk_id)
    if node is None:
        raise NodeNotFound(f"No graph node for chunk {chunk_id}; build the graph first.")
    return await traverse(
        conn, node["id"], outbound=callees, relationship="calls", max_depth=max_depth
    )


async def shortest_path(
    conn: asyncpg.Connection,
    source: UUID,
    target: UUID,
    *,
    relationship: str | None,
    max_depth: int,
) -> PathResult:
    await _node(conn, source)
    await _node(conn, target)
    parents: dict[UUID, UUID | None] = {source: None}
    frontier = [source]
    for _ in range(max_depth):
        if target in parents or not frontier:
            break
        next_frontier = []
        for near, far, _ in await repository.neighbours(
            conn, frontier, outbound=True, relationship=relationship
        ):
            if far not in parents:
                parents[far] = near
                next_frontier.append(far)
        frontier = next_frontier
    if target not in parents:
        return PathResult(found=False, length=None, path=[])
    path: list[UUID] = []
    cursor: UUID | None = target
    while cursor is not None:
        path.append(cursor)
        cursor = parents[cursor]
    path.reverse()
    rows = await repository.get_nodes(conn, path)
    return PathResult(found=True, length=len(path) - 1, path=[Node(**rows[i]) for i in path])


async def stats(conn: asyncpg.Connection, repository_name: str) -> GraphStats:
    counts = await repository.stats(conn, repository_name)
    return GraphStats(
        repository=repository_name,
        nodes=sum(counts["nodes_by_kind"].values()),
        edges=sum(counts["edges_by_relationship"].values()),
        **counts,
    )


async def _node(conn: asyncpg.Connection, node_id: UUID) -> dict:
    node = await repository.get_node(conn, node_id)
    if node is None:
        raise NodeNotFound(f"No graph node with id {node_id}.")
    return node
