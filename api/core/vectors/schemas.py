"""Shapes shared by every search: a ranked candidate, the tuning, where a vector column lives."""

from dataclasses import dataclass
from typing import Literal, Self
from uuid import UUID

import numpy as np
import numpy.typing as npt

from api.core.config import Settings

# One bound on query text for every search, events and code alike.
MAX_QUERY_CHARS = 2_000
# The float32 vectors the embedders produce (api.embeddings.protocol.Vector, which sits above).
QueryVector = npt.NDArray[np.float32]
Strategy = Literal["exact", "hnsw"]


@dataclass(frozen=True)
class Candidate:
    id: UUID
    score: float  # cosine distance for vector candidates, the lexical rank for lexical ones


@dataclass(frozen=True)
class Neighbours:
    candidates: list[Candidate]
    strategy: Strategy


@dataclass(frozen=True)
class SearchTuning:
    """The settings that shape a search (from Settings; explicit so workers can pass them)."""

    ef_search: int = 64
    exact_max_rows: int = 5_000
    candidate_pool: int = 50
    rrf_k: int = 60

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            ef_search=settings.hnsw_ef_search,
            exact_max_rows=settings.search_exact_max_rows,
            candidate_pool=settings.search_candidate_pool,
            rrf_k=settings.search_rrf_k,
        )


# Table, alias and vector column are formatted into SQL, so only these combinations exist.
_TARGETS = {
    ("events", "e", "embedding"),
    ("code_chunks", "c", "embedding_text"),
    ("code_chunks", "c", "embedding_code"),
}


@dataclass(frozen=True)
class VectorTarget:
    """A vector column to search: `table` aliased `alias` (the alias the filter clause uses)."""

    table: str
    alias: str
    column: str

    def __post_init__(self) -> None:
        if (self.table, self.alias, self.column) not in _TARGETS:
            raise ValueError(f"not a searchable vector column: {self}")
