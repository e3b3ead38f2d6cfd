"""SQL of code search: full text and trigram on names, hydration, and the filter of nearest
neighbours (whose SQL is shared with event search, in api/core/vectors, which adds the
tenant's condition itself). Every query here reads the connection's tenant only (`TENANT`)."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from api.code.search.schemas import CodeFilters
from api.core.database import TENANT
from api.core.vectors.repository import Where
from api.core.vectors.schemas import Candidate, VectorTarget

# The vector column of each embedding domain, for the shared nearest-neighbour search.
VECTORS = {
    "TEXT": VectorTarget(table="code_chunks", alias="c", column="embedding_text"),
    "CODE": VectorTarget(table="code_chunks", alias="c", column="embedding_code"),
}
CHUNK_COLUMNS = (
    "c.id, c.name, c.qualified_name, c.kind, c.language, c.repository, c.file_path, "
    "c.start_line, c.end_line, c.source_code, c.metadata"
)


def chunk_filter(filters: CodeFilters) -> Where:
    """`filters` as the condition builder the shared nearest-neighbour SQL takes."""
    return lambda params: filter_clause(filters, params)


def filter_clause(filters: CodeFilters, params: list[Any]) -> str:
    """SQL conditions for `filters`, appending their values to `params` as bind parameters."""
    conditions = ["TRUE"]
    for column, value in (
        ("c.repository", filters.repository),
        ("c.language", filters.language),
        ("c.kind", filters.chunk_type),
    ):
        if value is not None:
            params.append(value)
            conditions.append(f"{column} = ${len(params)}")
    if filters.file_path is not None:
        escaped = filters.file_path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(escaped + "%")
        conditions.append(f"c.file_path LIKE ${len(params)}")
    return " AND ".join(conditions)


async def lexical(
    conn: asyncpg.Connection,
    tsquery: str,
    query: str,
    filters: CodeFilters,
    *,
    k: int,
    match_names: bool,
) -> list[Candidate]:
    """Chunks matching any query word (weighted name > signature/doc > body), scored by
    ts_rank_cd plus the name's trigram similarity to the query; with `match_names`, names
    similar enough to the query match even when no word does."""
    params: list[Any] = [tsquery, query, match_names]
    where = filter_clause(filters, params)
    params.append(k)
    records = await conn.fetch(
        f"""
        SELECT c.id,
               coalesce(ts_rank_cd(c.search_text, q), 0)
               + word_similarity($2, c.qualified_name) AS score
        FROM code_chunks c, to_tsquery('english', $1) q
        WHERE c.tenant_id = {TENANT}
          AND (c.search_text @@ q OR ($3 AND $2 <% c.qualified_name)) AND {where}
        ORDER BY score DESC, c.id
        LIMIT ${len(params)}
        """,
        *params,
    )
    return [Candidate(record["id"], record["score"]) for record in records]


async def fetch_chunks(conn: asyncpg.Connection, ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    if not ids:
        return {}
    records = await conn.fetch(
        f"SELECT {CHUNK_COLUMNS} FROM code_chunks c "
        f"WHERE c.tenant_id = {TENANT} AND c.id = ANY($1::uuid[])",
        list(ids),
    )
    return {record["id"]: dict(record) for record in records}


async def languages(conn: asyncpg.Connection) -> list[str]:
    """The languages of indexed chunks, for the search page's filter."""
    records = await conn.fetch(
        f"SELECT DISTINCT c.language FROM code_chunks c WHERE c.tenant_id = {TENANT} ORDER BY 1"
    )
    return [record["language"] for record in records]


async def chunk_kinds(conn: asyncpg.Connection) -> list[str]:
    """The kinds of indexed chunks (function, method, class, window...), for the filter."""
    records = await conn.fetch(
        f"SELECT DISTINCT c.kind FROM code_chunks c WHERE c.tenant_id = {TENANT} ORDER BY 1"
    )
    return [record["kind"] for record in records]
