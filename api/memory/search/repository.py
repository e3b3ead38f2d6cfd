"""SQL of event search: lexical matches (BM25, or ts_rank without pg_textsearch), hydration,
and the filter of nearest neighbours (whose SQL is shared with code search, in api/core/vectors)."""

import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from api.core.database import TENANT
from api.core.lexical.repository import bm25_matches, fetch_fresh
from api.core.vectors.repository import Where
from api.core.vectors.schemas import Candidate, LexicalRanking, VectorTarget
from api.embeddings.protocol import Vector
from api.memory.events.schemas import EventFilters
from api.memory.events.sql import LIVE, columns, filter_clause

TEXT_SEARCH_CONFIG = "english"  # must match the generated column in migration 0003
# pg_textsearch's index over events.lexical_text (migration 0013), named in every BM25 query:
# the implicit form (`lexical_text <@> $1`) finds no index when it is given a parameter.
BM25_INDEX = "events_lexical_bm25"
# Where PostgreSQL's parser finds no word, neither ranking matches anything: no query is sent.
WORD = re.compile(r"[^\W_]")


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
    ranking: LexicalRanking,
    named: UUID | None = None,
    index: str = BM25_INDEX,
    columns: str | None = None,
) -> list[Candidate]:
    """Lexical matches of `query`, best first, scored higher-is-better.

    bm25: the events sharing any word with the query (stemmed, stop words left out), by BM25
    over `lexical_text`. ts_rank (no pg_textsearch): the matches of the query read as a web
    search (every word, `"phrases"`, `-not`), by ts_rank_cd over `search_text`. Either way a
    query without a word returns [] without a round trip.
    `near` = (vector, max_distance) keeps only matches within that cosine distance; `named`,
    the connection's tenant when it is known to be large (`api.core.database.tenant_is`);
    `index`, the BM25 index to read: the shared one, or a named tenant's own; `columns`
    (`api.memory.events.sql.columns`), each match's event in the same statement (`row`).
    """
    if not WORD.search(query):
        return []
    params: list[Any] = [query]
    where = filter_clause(filters, params, named=named)
    if near is not None:
        params += [near[0], near[1]]
        where += f" AND e.embedding <=> ${len(params) - 1} <= ${len(params)}"
    params += [k, offset]
    page = f"LIMIT ${len(params) - 1} OFFSET ${len(params)}"
    if ranking == "bm25":
        matches = bm25_matches(
            table="events",
            alias="e",
            index=index,
            where=where,
            wanted=k + offset,
            own=index != BM25_INDEX,
        )
        if columns is None:
            sql = f"SELECT id, -distance AS rank FROM {matches} AS m ORDER BY distance, id {page}"
        else:  # the page's events joined once ranked (the subquery's alias is its own)
            sql = f"""
                SELECT -m.distance AS rank, {columns} FROM {matches} AS m
                JOIN events e ON e.tenant_id = {TENANT} AND e.id = m.id
                ORDER BY m.distance, m.id {page}"""
        records = await fetch_fresh(conn, sql, *params)
    else:
        selected = "e.id" if columns is None else columns
        sql = f"""
            SELECT ts_rank_cd(e.search_text, q) AS rank, {selected}
            FROM events e, websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', $1) q
            WHERE e.search_text @@ q AND {where}
            ORDER BY rank DESC, e.id {page}
        """
        records = await conn.fetch(sql, *params)
    row = columns is not None
    return [Candidate(r["id"], r["rank"], row=r if row else None) for r in records]


async def fetch_events(
    conn: asyncpg.Connection,
    ids: Sequence[UUID],
    *,
    vector: Vector | None,
    include_embedding: bool,
) -> dict[UUID, asyncpg.Record]:
    """The rows of events by id (`columns()`, and `distance` to `vector` when one is given),
    to be built by `to_events`; a row deleted since the candidates were found is missing."""
    if not ids:
        return {}
    distance = "e.embedding <=> $2" if vector is not None else "NULL::float8"
    params: list[Any] = [list(ids)] + ([vector] if vector is not None else [])
    records = await conn.fetch(
        f"""
        SELECT {columns(include_embedding)}, {distance} AS distance
        FROM events e WHERE e.tenant_id = {TENANT} AND e.id = ANY($1::uuid[]) AND {LIVE}
        """,
        *params,
    )
    return {record["id"]: record for record in records}
