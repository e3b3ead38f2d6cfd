"""Event search: vector, lexical, hybrid (score fusion) and filter-only queries."""

import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from api.core.database import Database, connection_tenant
from api.core.errors import InvalidInput
from api.core.metrics import Metrics
from api.core.vectors import service as vectors
from api.core.vectors.fusion import score_fusion
from api.core.vectors.schemas import Candidate, Neighbours, SearchTuning
from api.embeddings.protocol import Embedder, Vector
from api.embeddings.vectors import checked_vector
from api.memory.events import service as events
from api.memory.events.schemas import EventFilters
from api.memory.events.sql import columns as event_columns
from api.memory.events.sql import to_events
from api.memory.search import ranking, repository
from api.memory.search.schemas import SearchHit, SearchMeta, SearchRequest, SearchResponse

# Hybrid's weights: chosen on the tuning splits of `make eval` (known items and LoCoMo) among
# 0.1-0.7 for lexical (scripts/eval/fusion.py): equal weights ranked best with BM25.
HYBRID_WEIGHTS = {"vector": 0.5, "lexical": 0.5}


async def nearest(
    conn: asyncpg.Connection,
    vector: Vector,
    filters: EventFilters | None,
    *,
    k: int,
    tuning: SearchTuning,
    columns: str | None = None,
) -> Neighbours:
    """Top-k events by cosine distance: exact over a selective filter's rows, else HNSW;
    with `columns` (`api.memory.events.sql.columns`), each event's row in the same round trip."""
    return await vectors.nearest(
        conn,
        repository.EVENT_VECTORS,
        vector,
        repository.event_filter(filters),
        filtered=filters is not None and filters.active,
        k=k,
        tuning=tuning,
        columns=columns,
    )


async def search(
    conn: asyncpg.Connection,
    embedder: Embedder,
    request: SearchRequest,
    *,
    tuning: SearchTuning,
    metrics: Metrics | None = None,
    vector: Vector | None = None,
    started: float | None = None,
) -> SearchResponse:
    """`vector` is the query's, when the caller embedded it already (see `search_embed_first`)."""
    started = time.perf_counter() if started is None else started
    mode = _effective_mode(request)
    if mode in ("vector", "hybrid") and vector is None:
        vector = await _query_vector(embedder, request)
    if request.ranks_by_memory:
        # The mode's best `window` matches, reordered, then paged: a match beyond the window
        # is not lifted into the page by its age or importance.
        window = max(tuning.candidate_pool, request.offset + request.limit + 1)
        wide = request.model_copy(update={"offset": 0, "limit": window})
        found, more, strategy = await _matches(conn, mode, wide, vector, tuning)
        ranked = ranking.by_memory(found, request, mode=mode, now=datetime.now(UTC))
        hits = ranked[request.offset : request.offset + request.limit]
        has_more = more or len(ranked) > request.offset + request.limit
    else:
        hits, has_more, strategy = await _matches(conn, mode, request, vector, tuning)
    elapsed = time.perf_counter() - started
    if metrics is not None:
        metrics.search_seconds.labels(mode).observe(elapsed)
    meta = SearchMeta(
        mode=mode,
        limit=request.limit,
        offset=request.offset,
        count=len(hits),
        has_more=has_more,
        total_hits=_total_hits(request.offset, len(hits), has_more),
        strategy=strategy,
        lexical_ranking=tuning.lexical_ranking if mode in ("lexical", "hybrid") else None,
        query_time_ms=round(elapsed * 1000, 3),
    )
    return SearchResponse(data=hits, meta=meta)


async def _matches(
    conn: asyncpg.Connection,
    mode: str,
    request: SearchRequest,
    vector: Vector | None,
    tuning: SearchTuning,
) -> tuple[list[SearchHit], bool, str | None]:
    """One page of the mode's matches: (hits, whether more follow, the vector strategy)."""
    filters = request.filters
    if mode == "filter":
        return await _filter_only(conn, request, filters)
    if mode == "lexical":
        return await _lexical(conn, request, filters, tuning)
    assert vector is not None
    if mode == "vector":
        return await _vector(conn, vector, request, filters, tuning)
    return await _hybrid(conn, vector, request, filters, tuning)


def _total_hits(offset: int, count: int, has_more: bool) -> int | None:
    """Exact only when this page reaches the end and shows where it is."""
    if has_more or (count == 0 and offset > 0):
        return None
    return offset + count


def _effective_mode(request: SearchRequest) -> str:
    if request.query is None and request.vector is None:
        return "filter"
    if request.mode == "hybrid" and request.query is None:
        return "vector"  # a bare vector has no words for the lexical half
    return request.mode


async def search_embed_first(
    database: Database,
    embedder: Embedder,
    request: SearchRequest,
    *,
    tuning: SearchTuning,
    metrics: Metrics | None = None,
) -> SearchResponse:
    """`search`, embedding the query before taking a connection: none waits on the model."""
    started = time.perf_counter()
    vector = None
    if _effective_mode(request) in ("vector", "hybrid"):
        vector = await _query_vector(embedder, request)
    async with database.reading() as conn:
        return await search(
            conn,
            embedder,
            request,
            tuning=tuning,
            metrics=metrics,
            vector=vector,
            started=started,
        )


async def _query_vector(embedder: Embedder, request: SearchRequest) -> Vector:
    if request.vector is not None:
        return checked_vector(request.vector, embedder.dimension, label="vector")
    if request.query is None:
        raise InvalidInput("A text query or a vector is required for this mode.")
    return await embedder.embed_query(request.query)


async def _filter_only(
    conn: asyncpg.Connection, request: SearchRequest, filters: EventFilters
) -> tuple[list[SearchHit], bool, str | None]:
    page = await events.list_events(
        conn,
        filters=filters,
        limit=request.limit,
        offset=request.offset,
        include_embedding=request.include_embedding,
    )
    hits = [SearchHit(**event.model_dump()) for event in page.data]
    return hits, page.meta.has_more, None


async def _vector(
    conn: asyncpg.Connection,
    vector: Vector,
    request: SearchRequest,
    filters: EventFilters,
    tuning: SearchTuning,
) -> tuple[list[SearchHit], bool, str | None]:
    wanted = request.offset + request.limit + 1
    # The rows come with their ranking: one round trip, no second query by id.
    columns = event_columns(request.include_embedding)
    found = await nearest(conn, vector, filters, k=wanted, tuning=tuning, columns=columns)
    candidates = _within(found.candidates, request.distance_threshold)
    page = candidates[request.offset : request.offset + request.limit]
    has_more = len(candidates) > request.offset + request.limit
    return _hydrated(page, distances=True), has_more, found.strategy


def _hydrated(page: list[Candidate], *, distances: bool) -> list[SearchHit]:
    """The hits of candidates that came with their rows, built from the rows directly;
    `distances`: their scores are cosine distances (vector search), else lexical ranks."""
    with_rows = [(c, c.row) for c in page if c.row is not None]
    return _hits(
        [row for _, row in with_rows],
        [
            {**_distance_fields(c.score), "score": 1.0 - c.score}
            if distances
            else {"score": c.score}
            for c, _ in with_rows
        ],
    )


def _hits(rows: list[asyncpg.Record], extras: list[dict[str, Any]]) -> list[SearchHit]:
    """Hits built from their rows, `extras[i]` the search fields of row i; a row that cannot
    be served is left out (and logged)."""
    return [hit for hit in to_events(rows, SearchHit, extras) if hit is not None]


def _distance_fields(distance: float | None) -> dict[str, float | None]:
    """A hit's cosine distance and similarity (None for an event not embedded yet)."""
    return {
        "distance": distance,
        "similarity_score": None if distance is None else 1.0 - distance,
    }


async def _lexical(
    conn: asyncpg.Connection, request: SearchRequest, filters: EventFilters, tuning: SearchTuning
) -> tuple[list[SearchHit], bool, str | None]:
    assert request.query is not None
    matches = await _lexical_matches(
        conn,
        request.query,
        filters,
        k=request.limit + 1,
        offset=request.offset,
        tuning=tuning,
        columns=event_columns(request.include_embedding),
    )
    page = matches[: request.limit]
    return _hydrated(page, distances=False), len(matches) > request.limit, None


async def _hybrid(
    conn: asyncpg.Connection,
    vector: Vector,
    request: SearchRequest,
    filters: EventFilters,
    tuning: SearchTuning,
) -> tuple[list[SearchHit], bool, str | None]:
    assert request.query is not None
    pool = max(tuning.candidate_pool, request.offset + request.limit + 1)
    found = await nearest(conn, vector, filters, k=pool, tuning=tuning)
    vector_hits = _within(found.candidates, request.distance_threshold)
    threshold = request.distance_threshold
    lexical_hits = await _lexical_matches(
        conn,
        request.query,
        filters,
        k=pool,
        near=None if threshold is None else (vector, threshold),
        tuning=tuning,
    )
    fused = score_fusion(
        {
            "vector": [(c.id, 1.0 - c.score) for c in vector_hits],  # similarity, not distance
            "lexical": [(c.id, c.score) for c in lexical_hits],
        },
        weights=HYBRID_WEIGHTS,
    )
    page = fused[request.offset : request.offset + request.limit]
    rows = await repository.fetch_events(
        conn, [f.key for f in page], vector=vector, include_embedding=request.include_embedding
    )
    kept = [item for item in page if item.key in rows]  # not deleted since it was ranked
    hits = _hits(
        [rows[item.key] for item in kept],
        [
            {
                **_distance_fields(rows[item.key]["distance"]),
                "score": item.score,
                "ranks": item.ranks,
            }
            for item in kept
        ],
    )
    return hits, len(fused) > request.offset + request.limit, found.strategy


async def _lexical_matches(
    conn: asyncpg.Connection,
    query: str,
    filters: EventFilters,
    *,
    k: int,
    tuning: SearchTuning,
    offset: int = 0,
    near: tuple[Vector, float] | None = None,
    columns: str | None = None,
) -> list[Candidate]:
    """Lexical matches (with their rows, given `columns`); from the tenant's own BM25 index
    when it has one, which the statement must name the tenant to read (a partial index serves
    only a condition implying its own)."""
    large = _named(conn, tuning)

    def matches(index: str) -> Awaitable[list[Candidate]]:
        own = index != repository.BM25_INDEX
        return repository.lexical_matches(
            conn,
            query,
            filters,
            k=k,
            offset=offset,
            near=near,
            ranking=tuning.lexical_ranking,
            named=connection_tenant(conn) if own else large,
            index=index,
            columns=columns,
        )

    if tuning.lexical_ranking != "bm25":
        return await matches(repository.BM25_INDEX)
    return await tuning.tenant_indexes.search(
        conn, "events", connection_tenant(conn), repository.BM25_INDEX, matches
    )


def _named(conn: asyncpg.Connection, tuning: SearchTuning) -> UUID | None:
    """The connection's tenant, to be named in a lexical statement, when vector search has
    seen it hold more events than an exact search reads (as vector statements name it)."""
    tenant = connection_tenant(conn)
    return tenant if tuning.large_tenants.holds(tenant, "events") else None


def _within(candidates: list[Candidate], threshold: float | None) -> list[Candidate]:
    if threshold is None:
        return candidates
    return [c for c in candidates if c.score <= threshold]
