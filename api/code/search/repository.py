"""SQL of code search: BM25 (or full text without pg_textsearch) and trigram on names,
hydration, and the filter of nearest neighbours (whose SQL is shared with event search, in
api/core/vectors, which adds the tenant's condition itself). Every query here reads the
connection's tenant only (`TENANT`)."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from api.code.search.schemas import CodeFilters
from api.core.database import TENANT
from api.core.lexical.repository import bm25_matches, fetch_fresh
from api.core.vectors.repository import Where
from api.core.vectors.schemas import Candidate, LexicalRanking, VectorTarget

# pg_textsearch's index over code_chunks.lexical_text (migration 0013), named in each query.
BM25_INDEX = "code_chunks_lexical_bm25"
# The BM25 matches reranked with the name's similarity to the query, and its weight against the
# best match's normalised BM25 (1.0). Measured on the tuning half of `make eval`'s code set
# (400 docstring queries, MRR@10): 0.505 by BM25 alone, 0.526 reranked with weight 2 over 50
# (0.519 over 20, 0.527 over 100; weight 1: 0.522, 3: 0.524).
NAME_POOL = 50
NAME_WEIGHT = 2.0

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
    words: str,
    query: str,
    filters: CodeFilters,
    *,
    k: int,
    match_names: bool,
    ranking: LexicalRanking,
) -> list[Candidate]:
    """Chunks matching any of `words` (the query as `query_words` splits it), best first.

    bm25: BM25 over `lexical_text` (name x3, signature and docstring, body), normalised by the
    best match and plus NAME_WEIGHT x the name's trigram similarity to `query`, over the best
    NAME_POOL matches. ts_rank (no pg_textsearch): ts_rank_cd over `search_text` (weighted name
    > signature/doc > body) plus the same similarity, as before BM25. With `match_names`, names
    similar enough to the query match even when no word does. [] when `words` is empty.
    """
    if not words:
        return []
    if ranking == "bm25":
        return await _bm25(conn, words, query, filters, k=k, match_names=match_names)
    params: list[Any] = [" | ".join(words.split()), query, match_names]
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


async def _bm25(
    conn: asyncpg.Connection,
    words: str,
    query: str,
    filters: CodeFilters,
    *,
    k: int,
    match_names: bool,
) -> list[Candidate]:
    """The BM25 form of `lexical`. Each list is found through its own index (BM25's ordered
    scan, the trigram GIN), at most NAME_POOL rows each, then reranked together."""
    params: list[Any] = [words, query, match_names]
    where = filter_clause(filters, params)
    pool = max(k, NAME_POOL)
    params += [pool, NAME_WEIGHT, k]
    pool_ref, weight, limit = (f"${n}" for n in range(len(params) - 2, len(params) + 1))
    matches = bm25_matches(
        table="code_chunks",
        alias="c",
        index=BM25_INDEX,
        where=f"c.tenant_id = {TENANT} AND {where}",
        wanted=pool,
        carry=("qualified_name",),
    )
    # A name among the NAME_POOL most similar that BM25 matched too is kept once, with its BM25
    # score. (Names past the pool cannot reach the top k <= pool: the pool's names all score
    # at least as much.)
    records = await fetch_fresh(
        conn,
        f"""
        SELECT id,
               coalesce(bm25 / nullif(max(bm25) OVER (), 0), 0)
               + {weight} * word_similarity($2, qualified_name) AS score
        FROM (
            SELECT DISTINCT ON (id) id, qualified_name, bm25 FROM (
                (SELECT id, qualified_name, -distance AS bm25 FROM {matches} AS matches
                 ORDER BY distance, id LIMIT {pool_ref})
                UNION ALL
                (SELECT c.id, c.qualified_name, 0::float8 AS bm25
                 FROM code_chunks c
                 WHERE $3 AND c.tenant_id = {TENANT} AND $2 <% c.qualified_name AND {where}
                 ORDER BY word_similarity($2, c.qualified_name) DESC, c.id
                 LIMIT {pool_ref})
            ) AS found
            ORDER BY id, bm25 DESC
        ) AS candidates
        ORDER BY score DESC, id
        LIMIT {limit}
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
