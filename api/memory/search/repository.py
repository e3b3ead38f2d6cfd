"""SQL of event search: nearest neighbours (exact or HNSW), full-text matches, hydration."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from api.embeddings.protocol import Vector
from api.memory.events.repository import columns, filter_clause, to_events
from api.memory.events.schemas import EventFilters, EventRead

TEXT_SEARCH_CONFIG = "english"  # must match the generated column in migration 0003


@dataclass(frozen=True)
class Candidate:
    id: UUID
    score: float  # distance for vector candidates, ts_rank_cd for lexical ones


async def count_filtered(conn: asyncpg.Connection, filters: EventFilters, *, cap: int) -> int:
    """How many events match `filters`, counting no further than `cap` + 1."""
    params: list[Any] = []
    where = filter_clause(filters, params)
    params.append(cap + 1)
    count: int = await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 FROM events e WHERE {where} LIMIT ${len(params)}) s",
        *params,
    )
    return count


async def nearest_exact(
    conn: asyncpg.Connection, vector: Vector, filters: EventFilters | None, *, k: int
) -> list[Candidate]:
    """Exact cosine distance over the rows the filter selects (for selective filters).

    The MATERIALIZED CTE keeps the planner from walking the HNSW index and post-filtering,
    which loses most results when few rows match.
    """
    params: list[Any] = [vector]
    where = filter_clause(filters, params)
    params.append(k)
    records = await conn.fetch(
        f"""
        WITH candidates AS MATERIALIZED (
            SELECT e.id, e.embedding <=> $1 AS distance
            FROM events e
            WHERE {where} AND e.embedding IS NOT NULL
        )
        SELECT id, distance FROM candidates ORDER BY distance, id LIMIT ${len(params)}
        """,
        *params,
    )
    return [Candidate(record["id"], record["distance"]) for record in records]


async def nearest_hnsw(
    conn: asyncpg.Connection,
    vector: Vector,
    filters: EventFilters | None,
    *,
    k: int,
    ef_search: int,
    session_ef_search: int,
) -> list[Candidate]:
    """Approximate nearest neighbours through the HNSW index.

    Iterative scans (pgvector 0.8, on for every pooled session) keep walking the graph until
    `k` rows pass the filter; relaxed order is restored by the outer ORDER BY. Without a filter
    and within the session's ef_search the query runs as is, in one round trip; otherwise a
    short transaction raises ef_search and keeps the planner on the vector index.
    """
    params: list[Any] = [vector]
    where = filter_clause(filters, params)
    params.append(k)
    query = f"""
        WITH nearest AS MATERIALIZED (
            SELECT e.id, e.embedding <=> $1 AS distance
            FROM events e
            WHERE {where} AND e.embedding IS NOT NULL
            ORDER BY e.embedding <=> $1
            LIMIT ${len(params)}
        )
        SELECT id, distance FROM nearest ORDER BY distance, id
        """
    filtered = filters is not None and filters.active
    if not filtered and ef_search <= session_ef_search:
        records = await conn.fetch(query, *params)
    else:
        async with conn.transaction():
            await conn.execute(
                """
                SELECT set_config('hnsw.ef_search', $1, true),
                       set_config('hnsw.iterative_scan', 'relaxed_order', true),
                       set_config('enable_seqscan', 'off', true),
                       set_config('enable_bitmapscan', 'off', true)
                """,
                str(ef_search),
            )
            records = await conn.fetch(query, *params)
    return [Candidate(record["id"], record["distance"]) for record in records]


async def lexical_matches(
    conn: asyncpg.Connection,
    query: str,
    filters: EventFilters | None,
    *,
    k: int,
    offset: int = 0,
    near: tuple[Vector, float] | None = None,
) -> list[Candidate]:
    """Full-text matches of a web-search style query, best ts_rank_cd first.

    `near` = (vector, max_distance) keeps only matches within that cosine distance.
    """
    params: list[Any] = [query]
    where = filter_clause(filters, params)
    if near is not None:
        params += [near[0], near[1]]
        where += f" AND e.embedding <=> ${len(params) - 1} <= ${len(params)}"
    params += [k, offset]
    records = await conn.fetch(
        f"""
        SELECT e.id, ts_rank_cd(e.search_text, q) AS rank
        FROM events e, websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', $1) q
        WHERE e.search_text @@ q AND {where}
        ORDER BY rank DESC, e.id
        LIMIT ${len(params) - 1} OFFSET ${len(params)}
        """,
        *params,
    )
    return [Candidate(record["id"], record["rank"]) for record in records]


async def fetch_events(
    conn: asyncpg.Connection,
    ids: Sequence[UUID],
    *,
    vector: Vector | None,
    include_embedding: bool,
) -> dict[UUID, tuple[EventRead, float | None]]:
    """Events by id, with their distance to `vector` when one is given. A row that cannot be
    served is left out (and logged), as a row deleted since the candidates were found is."""
    if not ids:
        return {}
    distance = "e.embedding <=> $2" if vector is not None else "NULL::float8"
    params: list[Any] = [list(ids)] + ([vector] if vector is not None else [])
    records = await conn.fetch(
        f"""
        SELECT {columns(include_embedding)}, {distance} AS distance
        FROM events e WHERE e.id = ANY($1::uuid[])
        """,
        *params,
    )
    events = to_events(records)
    return {
        record["id"]: (event, record["distance"])
        for record, event in zip(records, events, strict=True)
        if event is not None
    }
