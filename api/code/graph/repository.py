"""SQL of the code graph: replace a repository's graph, traverse it, find paths, count it.

Every query reads and writes the connection's tenant only (`TENANT`), joins included: node ids
are unique per tenant, and the tenant_id columns take it by default on insert."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from api.code.graph.builder import ChunkInfo, Graph
from api.code.graph.schemas import Edge, NodeMatch
from api.core.database import TENANT
from api.core.ids import uuid7

NODE_COLUMNS = "n.id, n.kind, n.name, n.qualified_name, n.file_path, n.chunk_id"
# Followed by a WHERE that restricts n to the tenant (the join keeps c to n's tenant).
MATCH_FROM = f"""
    SELECT {NODE_COLUMNS}, n.repository, c.start_line
    FROM nodes n LEFT JOIN code_chunks c ON c.tenant_id = n.tenant_id AND c.id = n.chunk_id
"""


async def repository_chunks(conn: asyncpg.Connection, repository: str) -> list[ChunkInfo]:
    records = await conn.fetch(
        f"""
        SELECT id::text, kind, name, qualified_name, file_path, language, metadata
        FROM code_chunks WHERE tenant_id = {TENANT} AND repository = $1
        ORDER BY file_path, start_line
        """,
        repository,
    )
    return [ChunkInfo(**dict(record)) for record in records]


async def replace_graph(conn: asyncpg.Connection, repository: str, graph: Graph) -> tuple[int, int]:
    """Swap the repository's nodes and edges for `graph` (call inside a transaction)."""
    await conn.execute(
        f"DELETE FROM nodes n WHERE n.tenant_id = {TENANT} AND n.repository = $1", repository
    )
    ids = {key: uuid7() for key in graph.nodes}
    nodes = list(graph.nodes.items())
    # RETURNING NULL: see api.code.index.repository.replace_file.
    await conn.execute(
        """
        INSERT INTO nodes (id, repository, chunk_id, kind, name, qualified_name, file_path)
        SELECT u.id, $1, u.chunk_id, u.kind, u.name, u.qualified_name, u.file_path
        FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[])
            AS u(id, chunk_id, kind, name, qualified_name, file_path)
        RETURNING NULL
        """,
        repository,
        [ids[key] for key, _ in nodes],
        [UUID(value[4]) if value[4] else None for _, value in nodes],
        [value[0] for _, value in nodes],
        [value[1] for _, value in nodes],
        [value[2] for _, value in nodes],
        [value[3] for _, value in nodes],
    )
    edges = sorted(graph.edges)
    await conn.execute(
        """
        INSERT INTO edges (repository, source_id, target_id, relationship)
        SELECT $1, u.source, u.target, u.relationship
        FROM unnest($2::uuid[], $3::uuid[], $4::text[]) AS u(source, target, relationship)
        RETURNING NULL
        """,
        repository,
        [ids[source] for source, _, _ in edges],
        [ids[target] for _, target, _ in edges],
        [relationship for _, _, relationship in edges],
    )
    return len(nodes), len(edges)


async def get_node(conn: asyncpg.Connection, node_id: UUID) -> dict[str, Any] | None:
    record = await conn.fetchrow(
        f"SELECT {NODE_COLUMNS} FROM nodes n WHERE n.tenant_id = {TENANT} AND n.id = $1", node_id
    )
    return dict(record) if record else None


async def node_of_chunk(conn: asyncpg.Connection, chunk_id: UUID) -> dict[str, Any] | None:
    record = await conn.fetchrow(
        f"SELECT {NODE_COLUMNS} FROM nodes n WHERE n.tenant_id = {TENANT} AND n.chunk_id = $1",
        chunk_id,
    )
    return dict(record) if record else None


async def unseen_neighbours(
    conn: asyncpg.Connection,
    frontier: Sequence[UUID],
    *,
    seen: Sequence[UUID],
    outbound: bool,
    relationship: str | None,
    limit: int | None = None,
) -> list[tuple[UUID, UUID, str]]:
    """(from, to, relationship): one edge to each node next to `frontier` that is not in `seen`.

    The first edge (by id) reaching each new node wins, and at most `limit` come back. Seen
    nodes are dropped here, by a hashed anti-join, so a densely connected graph sends back
    each node once instead of every edge between nodes already visited.
    """
    near, far = ("source_id", "target_id") if outbound else ("target_id", "source_id")
    records = await conn.fetch(
        f"""
        SELECT near, far, relationship FROM (
            SELECT DISTINCT ON (e.{far}) e.{near} AS near, e.{far} AS far, e.relationship, e.id
            FROM edges e
            WHERE e.tenant_id = {TENANT} AND e.{near} = ANY($1::uuid[])
              AND ($2::text IS NULL OR e.relationship = $2)
              AND NOT EXISTS (SELECT FROM unnest($3::uuid[]) AS s(id) WHERE s.id = e.{far})
            ORDER BY e.{far}, e.id
        ) first_edges
        ORDER BY id
        LIMIT $4
        """,
        list(frontier),
        relationship,
        list(seen),
        limit,
    )
    return [(record["near"], record["far"], record["relationship"]) for record in records]


async def get_nodes(
    conn: asyncpg.Connection, node_ids: Sequence[UUID]
) -> dict[UUID, dict[str, Any]]:
    records = await conn.fetch(
        f"SELECT {NODE_COLUMNS} FROM nodes n WHERE n.tenant_id = {TENANT} "
        "AND n.id = ANY($1::uuid[])",
        list(node_ids),
    )
    return {record["id"]: dict(record) for record in records}


async def stats(conn: asyncpg.Connection, repository: str) -> dict[str, Any]:
    kinds = await conn.fetch(
        f"SELECT kind, count(*) AS n FROM nodes WHERE tenant_id = {TENANT} AND repository = $1 "
        "GROUP BY kind",
        repository,
    )
    relations = await conn.fetch(
        f"SELECT relationship, count(*) AS n FROM edges "
        f"WHERE tenant_id = {TENANT} AND repository = $1 GROUP BY relationship",
        repository,
    )
    return {
        "nodes_by_kind": {record["kind"]: record["n"] for record in kinds},
        "edges_by_relationship": {record["relationship"]: record["n"] for record in relations},
    }


def like_pattern(text: str, *, contains: bool) -> str:
    """`text` for (I)LIKE, its wildcards escaped; `contains` matches it anywhere."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%" if contains else escaped


async def find_nodes(
    conn: asyncpg.Connection,
    text: str,
    *,
    repository: str | None,
    kinds: Sequence[str],
    contains: bool,
    limit: int,
) -> list[NodeMatch]:
    """Nodes whose name or qualified name is `text` (any case), or `contains` it; exact
    matches first, then names starting with it, then the shortest."""
    records = await conn.fetch(
        f"""
        {MATCH_FROM}
        WHERE n.tenant_id = {TENANT} AND n.kind = ANY($2::text[])
          AND ($3::text IS NULL OR n.repository = $3)
          AND (n.name ILIKE $4 OR n.qualified_name ILIKE $4)
        ORDER BY n.qualified_name = $1 DESC, n.name = $1 DESC, n.name ILIKE $5 DESC,
                 length(n.qualified_name), n.qualified_name, n.repository, n.file_path
        LIMIT $6
        """,
        text,
        list(kinds),
        repository,
        like_pattern(text, contains=contains),
        like_pattern(text, contains=False) + "%",
        limit,
    )
    return [NodeMatch(**dict(record)) for record in records]


async def nodes_by_id(conn: asyncpg.Connection, node_or_chunk_id: UUID) -> list[NodeMatch]:
    """The node with this id, or the node of the chunk with this id."""
    records = await conn.fetch(
        f"{MATCH_FROM} WHERE n.tenant_id = {TENANT} AND (n.id = $1 OR n.chunk_id = $1) "
        "ORDER BY n.id = $1 DESC",
        node_or_chunk_id,
    )
    return [NodeMatch(**dict(record)) for record in records]


async def start_lines(conn: asyncpg.Connection, chunk_ids: Sequence[UUID]) -> dict[UUID, int]:
    records = await conn.fetch(
        f"SELECT c.id, c.start_line FROM code_chunks c "
        f"WHERE c.tenant_id = {TENANT} AND c.id = ANY($1::uuid[])",
        list(chunk_ids),
    )
    return {record["id"]: record["start_line"] for record in records}


async def edges_among(
    conn: asyncpg.Connection, node_ids: Sequence[UUID], *, relationship: str
) -> list[Edge]:
    """The `relationship` edges whose both ends are in `node_ids`."""
    records = await conn.fetch(
        f"""
        SELECT e.source_id AS source, e.target_id AS target, e.relationship FROM edges e
        WHERE e.tenant_id = {TENANT}
          AND e.source_id = ANY($1::uuid[]) AND e.target_id = ANY($1::uuid[])
          AND e.relationship = $2
        ORDER BY e.id
        """,
        list(node_ids),
        relationship,
    )
    return [Edge(**dict(record)) for record in records]
