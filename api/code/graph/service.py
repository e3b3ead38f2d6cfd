"""Code graph use cases: (re)build a repository's graph, traverse, shortest path, stats.

The graph is derived from the index's chunks, so it sits above the index: it takes the
index's lock through the index's service, and the index never calls it (`api.code.pipeline`
composes the two when a request asks for the graph).
"""

from uuid import UUID

import asyncpg

from api.code.graph import repository
from api.code.graph.builder import build_graph
from api.code.graph.schemas import (
    DEFAULT_MAX_NODES,
    MAX_NODES,
    UNIT_KINDS,
    BuildResult,
    Direction,
    GraphNode,
    GraphStats,
    Neighbourhood,
    Node,
    NodeMatch,
    PathResult,
    Reached,
    TraverseResult,
)
from api.code.index import service as code_index
from api.core.errors import NotFound


class NodeNotFound(NotFound):
    error = "node_not_found"


async def rebuild(conn: asyncpg.Connection, repository_name: str) -> BuildResult:
    """Replace a repository's graph with one built from its current chunks.

    Runs in a transaction of its own, or joins the caller's (indexing rebuilds the graph in the
    same transaction as the chunks it changed).
    """
    async with conn.transaction():
        # Chunks read and graph written under the index's lock: no index write in between.
        await code_index.lock_repository(conn, repository_name)
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
    max_nodes: int = DEFAULT_MAX_NODES,
) -> TraverseResult:
    """Breadth first, one query per level: each node once, at its smallest depth, and the
    nearest `max_nodes` only (`truncated` says more were reachable within `max_depth`)."""
    start = await _node(conn, start_id)
    seen: dict[UUID, tuple[int, str]] = {start_id: (0, "")}
    frontier = [start_id]
    truncated = False
    for depth in range(1, max_depth + 1):
        if not frontier:
            break
        budget = max_nodes - (len(seen) - 1)
        # One more than the budget: finding it is how the cut is known to have dropped a node.
        found = await repository.unseen_neighbours(
            conn,
            frontier,
            seen=list(seen),
            outbound=outbound,
            relationship=relationship,
            limit=budget + 1,
        )
        if len(found) > budget:
            truncated, found = True, found[:budget]
        for _, far, relation in found:
            seen[far] = (depth, relation)
        frontier = [far for _, far, _ in found]
        if truncated:
            break
    reached = [node_id for node_id in seen if node_id != start_id]
    rows = await repository.get_nodes(conn, reached)
    nodes = [Reached(**rows[i], depth=seen[i][0], via=seen[i][1]) for i in reached if i in rows]
    nodes.sort(key=lambda node: (node.depth, node.qualified_name))
    return TraverseResult(start=Node(**start), nodes=nodes, truncated=truncated)


async def callers_or_callees(
    conn: asyncpg.Connection,
    chunk_id: UUID,
    *,
    callees: bool,
    max_depth: int = 1,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> TraverseResult:
    node = await repository.node_of_chunk(conn, chunk_id)
    if node is None:
        raise NodeNotFound(f"No graph node for chunk {chunk_id}; build the graph first.")
    return await traverse(
        conn,
        node["id"],
        outbound=callees,
        relationship="calls",
        max_depth=max_depth,
        max_nodes=max_nodes,
    )


async def shortest_path(
    conn: asyncpg.Connection,
    source: UUID,
    target: UUID,
    *,
    relationship: str | None,
    max_depth: int,
) -> PathResult:
    """Breadth first from `source`; each node is fetched once, so the work is bounded by the
    edges within `max_depth`, and the answer by `max_depth` + 1 nodes."""
    await _node(conn, source)
    await _node(conn, target)
    parents: dict[UUID, UUID | None] = {source: None}
    frontier = [source]
    for _ in range(max_depth):
        if target in parents or not frontier:
            break
        found = await repository.unseen_neighbours(
            conn, frontier, seen=list(parents), outbound=True, relationship=relationship
        )
        for near, far, _ in found:
            parents[far] = near
        frontier = [far for _, far, _ in found]
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


async def get_node(conn: asyncpg.Connection, node_id: UUID) -> Node:
    return Node(**await _node(conn, node_id))


async def node_of_chunk(conn: asyncpg.Connection, chunk_id: UUID) -> Node:
    node = await repository.node_of_chunk(conn, chunk_id)
    if node is None:
        raise NodeNotFound(f"No graph node for chunk {chunk_id}; build the graph first.")
    return Node(**node)


async def suggest(
    conn: asyncpg.Connection, text: str, *, repository_name: str | None, limit: int = 20
) -> list[NodeMatch]:
    """Functions, methods and classes whose name or qualified name contains `text`."""
    text = text.strip()
    if not text:
        return []
    return await repository.find_nodes(
        conn, text, repository=repository_name, kinds=UNIT_KINDS, contains=True, limit=limit
    )


async def resolve(
    conn: asyncpg.Connection, text: str, *, repository_name: str | None
) -> list[NodeMatch]:
    """The nodes `text` names: a node or chunk id; else the units whose qualified name, else
    whose name, is exactly `text` (then in any case); external names only when no unit matches.
    More than one means the name is ambiguous."""
    text = text.strip()
    if not text:
        return []
    try:
        return await repository.nodes_by_id(conn, UUID(text))
    except ValueError:
        pass
    found = await repository.find_nodes(
        conn,
        text,
        repository=repository_name,
        kinds=(*UNIT_KINDS, "external"),
        contains=False,
        limit=50,
    )
    found = [m for m in found if m.kind != "external"] or found
    folded = text.casefold()
    for matches in (
        lambda m: m.qualified_name == text,
        lambda m: m.name == text,
        lambda m: m.qualified_name.casefold() == folded,
    ):
        chosen = [m for m in found if matches(m)]
        if chosen:
            return chosen
    return found


async def neighbourhood(
    conn: asyncpg.Connection,
    node_id: UUID,
    *,
    direction: Direction,
    max_depth: int,
    max_nodes: int,
) -> Neighbourhood:
    """A node's callers and callees to `max_depth` calls (the nearest `max_nodes` of them) and
    every call among the nodes kept, so a drawing shows all the arrows between them."""
    start = GraphNode(**await _node(conn, node_id))
    depths: dict[UUID, dict[str, int]] = {}
    reached: dict[UUID, Reached] = {}
    sides = []  # (the depth it sets, whether to follow calls out of the node)
    if direction != "callees":
        sides.append(("caller_depth", False))
    if direction != "callers":
        sides.append(("callee_depth", True))
    cut = False
    for side, outbound in sides:
        result = await traverse(
            conn,
            node_id,
            outbound=outbound,
            relationship="calls",
            max_depth=max_depth,
            # Counted further than kept, so `reached` can say how many more there are.
            max_nodes=max(max_nodes, MAX_NODES),
        )
        cut = cut or result.truncated
        for found in result.nodes:
            depths.setdefault(found.id, {})[side] = found.depth
            reached[found.id] = found
    nodes = [
        GraphNode(**reached[i].model_dump(include=set(Node.model_fields)), **depths[i])
        for i in reached
    ]
    nodes.sort(key=lambda node: (node.depth, node.qualified_name, str(node.id)))
    kept = nodes[:max_nodes]
    lines = await repository.start_lines(conn, [n.chunk_id for n in [start, *kept] if n.chunk_id])
    for node in [start, *kept]:
        node.start_line = lines.get(node.chunk_id) if node.chunk_id else None
    edges = await repository.edges_among(
        conn, [node_id, *(n.id for n in kept)], relationship="calls"
    )
    return Neighbourhood(
        start=start,
        nodes=kept,
        edges=edges,
        reached=len(nodes),
        truncated=cut or len(nodes) > max_nodes,
    )
