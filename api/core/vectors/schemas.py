"""Shapes shared by every search: a ranked candidate, the tuning, where a vector column lives."""

from dataclasses import dataclass, field
from typing import Literal, Self
from uuid import UUID

import asyncpg
import numpy as np
import numpy.typing as npt

from api.core.config import Settings
from api.core.kept import Kept
from api.core.lexical.service import TenantIndexes

# One bound on query text for every search, events and code alike.
MAX_QUERY_CHARS = 2_000
# The float32 vectors the embedders produce (api.embeddings.protocol.Vector, which sits above).
QueryVector = npt.NDArray[np.float32]
Strategy = Literal["exact", "hnsw"]
# How lexical search ranks: BM25 through pg_textsearch's indexes (migration 0013, where the
# server has the extension), or ts_rank over the tsvector columns (everywhere else).
LexicalRanking = Literal["bm25", "ts_rank"]
# What an HNSW index holds (Settings.hnsw_storage): the rows always keep `vector`.
HnswStorage = Literal["vector", "halfvec"]


@dataclass(frozen=True)
class Candidate:
    id: UUID
    score: float  # cosine distance for vector candidates, the lexical rank for lexical ones
    # The row's columns, when the search was asked to return them with its ranking.
    row: asyncpg.Record | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Neighbours:
    candidates: list[Candidate]
    strategy: Strategy


class LargeTenants(Kept[tuple[UUID, str], bool]):
    """Which tenants' tables held more rows than the exact-search cap, seen in the last
    `ttl_seconds`: their unfiltered searches go to HNSW without counting the rows again.

    A tenant that shrinks below the cap is searched through HNSW for at most `ttl_seconds`
    more (approximate, as it was a moment before); one that grows is counted on each search
    until it passes the cap. At most `max_entries` are kept, the oldest dropped first.
    """

    def holds(self, tenant_id: UUID | None, table: str) -> bool:
        return tenant_id is not None and self.get((tenant_id, table)) is not None

    def remember(self, tenant_id: UUID | None, table: str) -> None:
        if tenant_id is not None:
            self.put((tenant_id, table), True)


@dataclass(frozen=True)
class SearchTuning:
    """The settings that shape a search (from Settings; explicit so workers can pass them),
    what the database offers (`lexical_ranking`, read once at start-up: api.startup), and what
    searches learnt of the tenants' sizes (one memory per service)."""

    ef_search: int = 64
    exact_max_rows: int = 5_000
    candidate_pool: int = 50
    # ts_rank until start-up has seen the BM25 indexes: it runs on every schema at head.
    lexical_ranking: LexicalRanking = "ts_rank"
    large_tenants: LargeTenants = field(default_factory=LargeTenants, compare=False, repr=False)
    # Which of those have a BM25 index of their own (api/core/lexical/service.py).
    tenant_indexes: TenantIndexes = field(default_factory=TenantIndexes, compare=False, repr=False)
    # The vector columns (VectorTarget.name) whose HNSW index holds halfvec, read at start-up
    # (api.startup): their searches order by the halfvec cast the index is built on.
    halfvec_indexes: frozenset[str] = frozenset()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        lexical_ranking: LexicalRanking = "ts_rank",
        halfvec_indexes: frozenset[str] = frozenset(),
    ) -> Self:
        return cls(
            ef_search=settings.hnsw_ef_search,
            exact_max_rows=settings.search_exact_max_rows,
            candidate_pool=settings.search_candidate_pool,
            lexical_ranking=lexical_ranking,
            halfvec_indexes=halfvec_indexes,
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

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    @property
    def index(self) -> str:
        """Its HNSW index, as the migrations (and a model switch) name it."""
        return f"{self.table}_{self.column}_hnsw"


# Every vector column with an HNSW index (for the operator commands over all of them).
VECTOR_TARGETS = tuple(VectorTarget(t, a, c) for t, a, c in sorted(_TARGETS))
