"""SQL of event search: full-text matches, hydration, and the filter of nearest neighbours
(whose SQL is shared with code search, in api/core/vectors)."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from api.core.database import TENANT
from api.core.vectors.repository import Where
from api.core.vectors.schemas import Candidate, VectorTarget
from api.embeddings.protocol import Vector
from api.memory.events.schemas import EventFilters, EventRead
from api.memory.events.sql import columns, filter_clause, to_events

TEXT_SEARCH_CONFIG = "english"  # must match the generated column in migration 0003


# The vector column event search ranks by, for the shared nearest-neighbour search.
EVENT_VECTORS = VectorTarget(table="events", alias="e", column="embedding")


def event_filter(filters: EventFilters | None) -> Where:
    """`filters` as the condition builder the shared nearest-neighbour SQL takes (the tenant
    included, as in every events query)."""
    return lambda params: filter_clause(filters, params)


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
        FROM events e WHERE e.tenant_id = {TENANT} AND e.id = ANY($1::uuid[])
        """,
        *params,
    )
    events = to_events(records)
    return {
        record["id"]: (event, record["distance"])
        for record, event in zip(records, events, strict=True)
        if event is not None
    }
