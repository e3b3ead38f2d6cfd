"""Ranking by memory: a search's matches reordered by their age, importance and pinning, when
the request asks (`recency_half_life`, `importance`, `pinned`; docs/api.md, "Ranking by time
and importance"). Pure functions over the hits the search modes found."""

from collections.abc import Sequence
from datetime import datetime

from api.memory.search.schemas import SearchHit, SearchRequest


def relevance(hit: SearchHit, mode: str) -> float:
    """The match's own score on a scale that starts at 0: vector similarity (-1 to 1) moved to
    0 to 1; the lexical and fused scores as they are (never negative); 1 where there is none
    (filters only)."""
    if hit.score is None:
        return 1.0
    if mode == "vector":
        return (1.0 + hit.score) / 2
    return max(hit.score, 0.0)


def memory_score(hit: SearchHit, request: SearchRequest, mode: str, now: datetime) -> float:
    """relevance x (1 + decay) / 2 x (1 + importance_weight x importance), where
    decay = 0.5 ** (age / recency_half_life): a new event keeps its relevance, one a half-life
    old three quarters of it, a very old one half."""
    score = relevance(hit, mode)
    if request.recency_half_life is not None:
        age = max((now - hit.timestamp).total_seconds(), 0.0)
        decay = 0.5 ** (age / request.recency_half_life.total_seconds())
        score *= (1.0 + decay) / 2
    return score * (1.0 + request.importance * (hit.importance or 0.0))


def by_memory(
    hits: Sequence[SearchHit], request: SearchRequest, *, mode: str, now: datetime
) -> list[SearchHit]:
    """`hits` reordered by `memory_score`, pinned ones first when the request says so; each
    hit's `score` becomes its memory score. Ties keep the mode's order."""
    scored = [
        (hit.model_copy(update={"score": memory_score(hit, request, mode, now)}), position)
        for position, hit in enumerate(hits)
    ]
    scored.sort(
        key=lambda item: (
            request.pinned and not item[0].pinned,
            -(item[0].score or 0.0),
            item[1],
        )
    )
    return [hit for hit, _ in scored]
