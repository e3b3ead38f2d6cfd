"""SQL of code search: full text and trigram on names, nearest neighbours per vector column."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg

from api.code.search.schemas import CodeFilters
from api.embeddings.protocol import Vector

Column = Literal["embedding_text", "embedding_code"]
COLUMNS: dict[str, Column] = {"TEXT": "embedding_text", "CODE": "embedding_code"}
CHUNK_COLUMNS = (
    "c.id, c.name, c.qualified_name, c.kind, c.language, c.repository, c.file_path, "
    "c.start_line, c.end_line, c.source_code, c.metadata"
)


@dataclass(frozen=True)
class Candidate:
    id: UUID
    score: float


def filter_clause(filters: CodeFilters, params: list[Any]) -> str:
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
        WHERE (c.search_text @@ q OR ($3 AND $2 <% c.qualified_name)) AND {where}
        ORDER BY score DESC, c.id
        LIMIT ${len(params)}
        """,
        *params,
    )
    return [Candidate(record["id"], record["score"]) for record in records]


async def count_filtered(conn: asyncpg.Connection, filters: CodeFilters, *, cap: int) -> int:
    params: list[Any] = []
    where = filter_clause(filters, params)
    params.append(cap + 1)
    count: int = await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 FROM code_chunks c WHERE {where} LIMIT ${len(params)}) s",
        *params,
    )
    return count


async def nearest(
    conn: asyncpg.Connection,
    column: Column,
    vector: Vector,
    filters: CodeFilters,
    *,
    k: int,
    exact: bool,
    ef_search: int,
) -> list[Candidate]:
    """Top k by cosine distance on one vector column: exact over the filtered rows, or HNSW
    with an iterative scan (score = distance)."""
    params: list[Any] = [vector]
    where = filter_clause(filters, params)
    params.append(k)
    if exact:
        query = f"""
            WITH candidates AS MATERIALIZED (
                SELECT c.id, c.{column} <=> $1 AS distance FROM code_chunks c
                WHERE {where} AND c.{column} IS NOT NULL
            )
            SELECT id, distance FROM candidates ORDER BY distance, id LIMIT ${len(params)}
            """
        records = await conn.fetch(query, *params)
    else:
        query = f"""
            WITH nearest AS MATERIALIZED (
                SELECT c.id, c.{column} <=> $1 AS distance FROM code_chunks c
                WHERE {where} AND c.{column} IS NOT NULL
                ORDER BY c.{column} <=> $1 LIMIT ${len(params)}
            )
            SELECT id, distance FROM nearest ORDER BY distance, id
            """
        async with conn.transaction():
            await conn.execute(
                """
                SELECT set_config('hnsw.ef_search', $1, true),
                       set_config('enable_seqscan', 'off', true),
                       set_config('enable_bitmapscan', 'off', true)
                """,
                str(ef_search),
            )
            records = await conn.fetch(query, *params)
    return [Candidate(record["id"], record["distance"]) for record in records]


async def fetch_chunks(conn: asyncpg.Connection, ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    if not ids:
        return {}
    records = await conn.fetch(
        f"SELECT {CHUNK_COLUMNS} FROM code_chunks c WHERE c.id = ANY($1::uuid[])", list(ids)
    )
    return {record["id"]: dict(record) for record in records}


async def languages(conn: asyncpg.Connection) -> list[str]:
    """The languages of indexed chunks, for the search page's filter."""
    records = await conn.fetch("SELECT DISTINCT c.language FROM code_chunks c ORDER BY 1")
    return [record["language"] for record in records]


async def chunk_kinds(conn: asyncpg.Connection) -> list[str]:
    """The kinds of indexed chunks (function, method, class, window...), for the filter."""
    records = await conn.fetch("SELECT DISTINCT c.kind FROM code_chunks c ORDER BY 1")
    return [record["kind"] for record in records]
