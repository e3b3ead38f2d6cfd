"""Code search: lexical (identifier words and comments), vector (either model), hybrid (fused).

The server embeds the query when no vector is given (v1 did not, so its hybrid search was
lexical in practice). The `*_embed_first` forms embed before taking a connection, so no pooled
connection waits on the model; the others take the vectors from a caller that did the same.
"""

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from api.code.index.texts import query_words
from api.code.search import repository
from api.code.search.schemas import (
    CodeFilters,
    CodeHit,
    CodeSearchResponse,
    HybridSearchRequest,
    HybridSearchResponse,
    LexicalSearchRequest,
    VectorSearchRequest,
)
from api.core.database import Database
from api.core.errors import InvalidInput
from api.core.metrics import Metrics
from api.core.vectors import service as vectors
from api.core.vectors.fusion import score_fusion
from api.core.vectors.schemas import Candidate, SearchTuning, VectorTarget
from api.embeddings.factory import Embedders
from api.embeddings.protocol import Embedder, Vector
from api.embeddings.vectors import checked_vector


def name_like(query: str) -> bool:
    """Whether a name may match by trigrams alone: matching a sentence against every name
    costs tens of milliseconds and finds nothing a word match would not."""
    return len(query) <= 64 and len(query.split()) <= 3


async def lexical(
    conn: asyncpg.Connection,
    request: LexicalSearchRequest,
    *,
    tuning: SearchTuning,
    metrics: Metrics | None = None,
) -> CodeSearchResponse:
    started = time.perf_counter()
    found = await repository.lexical(
        conn,
        query_words(request.query),
        request.query,
        request.filters,
        k=request.limit,
        match_names=name_like(request.query),
        ranking=tuning.lexical_ranking,
    )
    hits = await _hits(conn, found, score_field="lexical_score")
    _observe(metrics, "lexical", started)
    return CodeSearchResponse(
        results=hits, total_results=len(hits), lexical_ranking=tuning.lexical_ranking
    )


async def vector(
    conn: asyncpg.Connection,
    embedders: Embedders,
    request: VectorSearchRequest,
    *,
    tuning: SearchTuning,
    metrics: Metrics | None = None,
    query_vector: Vector | None = None,
    started: float | None = None,
) -> CodeSearchResponse:
    """`query_vector` is the query's, when the caller embedded it already."""
    started = time.perf_counter() if started is None else started
    if query_vector is None:
        query_vector = await _vector_query(embedders, request)
    target = repository.VECTORS[request.embedding_domain]
    found = await _nearest(conn, target, query_vector, request.filters, request.limit, tuning)
    hits = await _hits(conn, found, score_field="vector_similarity", distance=True)
    _observe(metrics, "vector", started)
    return CodeSearchResponse(results=hits, total_results=len(hits))


async def vector_embed_first(
    database: Database,
    embedders: Embedders,
    request: VectorSearchRequest,
    *,
    tuning: SearchTuning,
    metrics: Metrics | None = None,
) -> CodeSearchResponse:
    """`vector`, embedding the query before taking a connection."""
    started = time.perf_counter()
    query_vector = await _vector_query(embedders, request)
    async with database.reading() as conn:
        return await vector(
            conn,
            embedders,
            request,
            tuning=tuning,
            metrics=metrics,
            query_vector=query_vector,
            started=started,
        )


async def hybrid(
    conn: asyncpg.Connection,
    embedders: Embedders,
    request: HybridSearchRequest,
    *,
    tuning: SearchTuning,
    metrics: Metrics | None = None,
    query_vectors: tuple[Vector, Vector] | None = None,
    started: float | None = None,
) -> HybridSearchResponse:
    """`query_vectors` are the query's (text, code) vectors, when the caller embedded them."""
    started = time.perf_counter() if started is None else started
    _check_enabled(request)
    pool = request.candidate_pool_size
    rankings: dict[str, list[Candidate]] = {}
    if request.enable_lexical:
        rankings["lexical"] = await repository.lexical(
            conn,
            query_words(request.query),
            request.query,
            request.filters,
            k=pool,
            match_names=name_like(request.query),
            ranking=tuning.lexical_ranking,
        )
    if request.enable_vector:
        if query_vectors is None:
            query_vectors = await _hybrid_queries(embedders, request)
        text_vector, code_vector = query_vectors
        for name, domain, query_vector in (
            ("vector_text", "TEXT", text_vector),
            ("vector_code", "CODE", code_vector),
        ):
            rankings[name] = await _nearest(
                conn, repository.VECTORS[domain], query_vector, request.filters, pool, tuning
            )
    weights = {
        "lexical": request.lexical_weight,
        "vector_text": request.vector_weight / 2,
        "vector_code": request.vector_weight / 2,
    }
    fused = score_fusion(
        {
            name: [(c.id, _higher_better(name, c)) for c in found]
            for name, found in rankings.items()
        },
        weights=weights,
    )[: request.top_k]
    scores = {name: {c.id: c.score for c in found} for name, found in rankings.items()}
    chunks = await repository.fetch_chunks(conn, [item.key for item in fused])
    results = []
    for rank, item in enumerate(fused, start=1):
        if item.key not in chunks:
            continue
        distances = [scores[m][item.key] for m in ("vector_text", "vector_code") if m in item.ranks]
        results.append(
            _hit(
                chunks[item.key],
                rank=rank,
                score=item.score,
                lexical_score=scores.get("lexical", {}).get(item.key),
                vector_similarity=1 - min(distances) if distances else None,
                ranks=item.ranks,
                contribution=_shares(item.parts, item.score),
            )
        )
    metadata = {
        "total_results": len(results),
        "execution_time_ms": round((time.perf_counter() - started) * 1000, 2),
        "lexical_candidates": len(rankings.get("lexical", [])),
        "vector_text_candidates": len(rankings.get("vector_text", [])),
        "vector_code_candidates": len(rankings.get("vector_code", [])),
        "weights": weights,
        "lexical_ranking": tuning.lexical_ranking if request.enable_lexical else None,
    }
    _observe(metrics, "hybrid", started)
    return HybridSearchResponse(results=results, metadata=metadata)


def _higher_better(method: str, candidate: Candidate) -> float:
    """A candidate's score for fusion: the lexical score, or a vector's similarity (its
    candidates carry the cosine distance)."""
    return candidate.score if method == "lexical" else 1.0 - candidate.score


def _shares(parts: dict[str, float], score: float) -> dict[str, float]:
    """Each list's share of a fused score (all zero for a hit at the bottom of every list)."""
    return {m: round(v / score, 4) if score else 0.0 for m, v in parts.items()}


async def hybrid_embed_first(
    database: Database,
    embedders: Embedders,
    request: HybridSearchRequest,
    *,
    tuning: SearchTuning,
    metrics: Metrics | None = None,
) -> HybridSearchResponse:
    """`hybrid`, embedding the query (both models) before taking a connection."""
    started = time.perf_counter()
    _check_enabled(request)
    query_vectors = await _hybrid_queries(embedders, request) if request.enable_vector else None
    async with database.reading() as conn:
        return await hybrid(
            conn,
            embedders,
            request,
            tuning=tuning,
            metrics=metrics,
            query_vectors=query_vectors,
            started=started,
        )


def _check_enabled(request: HybridSearchRequest) -> None:
    if not (request.enable_lexical or request.enable_vector):
        raise InvalidInput("Enable at least one of enable_lexical and enable_vector.")


def _observe(metrics: Metrics | None, mode: str, started: float) -> None:
    if metrics is not None:
        metrics.code_search_seconds.labels(mode).observe(time.perf_counter() - started)


async def _vector_query(embedders: Embedders, request: VectorSearchRequest) -> Vector:
    embedder = embedders.text if request.embedding_domain == "TEXT" else embedders.code
    return await _query_vector(embedder, request.query, request.embedding, "embedding")


async def _hybrid_queries(
    embedders: Embedders, request: HybridSearchRequest
) -> tuple[Vector, Vector]:
    """The (text, code) vectors of a hybrid query, both models at once."""
    text_vector, code_vector = await asyncio.gather(
        _query_vector(embedders.text, request.query, request.embedding_text, "embedding_text"),
        _query_vector(embedders.code, request.query, request.embedding_code, "embedding_code"),
    )
    return text_vector, code_vector


async def _query_vector(
    embedder: Embedder, query: str | None, supplied: Sequence[float] | None, label: str
) -> Vector:
    if supplied is not None:
        return checked_vector(supplied, embedder.dimension, label=label)
    if query is None:
        raise InvalidInput("Give a query to embed, or an embedding.")
    return await embedder.embed_query(query)


async def _nearest(
    conn: asyncpg.Connection,
    target: VectorTarget,
    query_vector: Vector,
    filters: CodeFilters,
    k: int,
    tuning: SearchTuning,
) -> list[Candidate]:
    """Exact over the filtered rows when they are few (so nothing is lost), else HNSW."""
    found = await vectors.nearest(
        conn,
        target,
        query_vector,
        repository.chunk_filter(filters),
        filtered=filters.active,
        k=k,
        tuning=tuning,
    )
    return found.candidates


async def _hits(
    conn: asyncpg.Connection,
    found: list[Candidate],
    *,
    score_field: str,
    distance: bool = False,
) -> list[CodeHit]:
    chunks = await repository.fetch_chunks(conn, [c.id for c in found])
    hits = []
    for rank, candidate in enumerate(found, start=1):
        if candidate.id not in chunks:
            continue
        score = 1 - candidate.score if distance else candidate.score
        hits.append(_hit(chunks[candidate.id], rank=rank, score=score, **{score_field: score}))
    return hits


def _hit(row: dict[str, Any], *, rank: int, score: float, **extra: Any) -> CodeHit:
    return CodeHit(
        chunk_id=str(row["id"]),
        rank=rank,
        name=row["name"],
        qualified_name=row["qualified_name"],
        chunk_type=row["kind"],
        language=row["language"],
        repository=row["repository"],
        file_path=row["file_path"],
        start_line=row["start_line"],
        end_line=row["end_line"],
        source_code=row["source_code"],
        metadata=row["metadata"],
        score=score,
        **extra,
    )


async def languages(conn: asyncpg.Connection) -> list[str]:
    return await repository.languages(conn)


async def chunk_kinds(conn: asyncpg.Connection) -> list[str]:
    return await repository.chunk_kinds(conn)
