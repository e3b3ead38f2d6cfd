"""Request and response shapes of the search API."""

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.core.vectors.schemas import MAX_QUERY_CHARS
from api.embeddings.vectors import EmbeddingInput
from api.memory.events.schemas import EventFilters, EventRead, FilterMetadata, Scopes, as_utc

SearchMode = Literal["hybrid", "vector", "lexical"]
MAX_HALF_LIFE = timedelta(days=36_500)


class SearchRequest(Scopes):
    """A query (text or vector, or neither: filters only) and its filters; the scopes
    (user_id, agent_id, session_id) filter by exact match."""

    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(
        default=None, max_length=MAX_QUERY_CHARS, description="Text to search for."
    )
    vector: EmbeddingInput | None = Field(
        default=None, description="A query vector, used instead of embedding `query`."
    )
    metadata: FilterMetadata | None = Field(default=None, description="Containment filter.")
    ts_start: datetime | None = None
    ts_end: datetime | None = None
    mode: SearchMode = "hybrid"
    limit: int = Field(default=10, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1000)
    distance_threshold: float | None = Field(
        default=None, ge=0, le=2, description="Drop vector matches farther than this distance."
    )
    include_embedding: bool = False
    # Ranking by memory: off by default (docs/api.md, "Ranking by time and importance").
    recency_half_life: timedelta | None = Field(
        default=None,
        description="Blend the match with its age: a match this old (ISO 8601 duration, e.g. "
        "P7D, or seconds) counts three quarters of a new one, twice as old five eighths.",
    )
    importance: float = Field(
        default=0,
        ge=0,
        le=1,
        description="How much an event's importance lifts it: its score times "
        "(1 + importance x the event's importance).",
    )
    pinned: bool = Field(default=False, description="Pinned matches first.")

    _utc = field_validator("ts_start", "ts_end")(as_utc)

    @field_validator("recency_half_life")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and not timedelta(seconds=1) <= value <= MAX_HALF_LIFE:
            raise ValueError("recency_half_life must lie between 1 second and 100 years")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> "SearchRequest":
        if self.query is not None and not self.query.strip():
            self.query = None
        if self.ts_start and self.ts_end and self.ts_start > self.ts_end:
            raise ValueError("ts_start must not be later than ts_end")
        if self.mode == "lexical" and self.query is None and self.vector is not None:
            raise ValueError("mode 'lexical' needs a text query, not a vector")
        return self

    @property
    def ranks_by_memory(self) -> bool:
        """Whether time, importance or pinning reorder the matches."""
        return self.recency_half_life is not None or self.importance > 0 or self.pinned

    @property
    def filters(self) -> EventFilters:
        return EventFilters(
            metadata=self.metadata, ts_start=self.ts_start, ts_end=self.ts_end, **self.scopes
        )


class SearchHit(EventRead):
    score: float | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Ranking score, higher is better: the fused score (hybrid: each method's "
        "score scaled to [0, 1] over its candidates, then weighted), BM25 or ts_rank_cd "
        "(lexical), similarity (vector); with recency_half_life or importance, that score "
        "blended with the event's age and importance (docs/api.md).",
    )
    ranks: dict[str, int] | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Rank of this event in each method that found it (hybrid only).",
    )


class SearchMeta(BaseModel):
    mode: str = Field(description="hybrid, vector, lexical, or filter (no query given).")
    limit: int
    offset: int
    count: int
    has_more: bool
    total_hits: int | None = Field(
        description="Exact number of hits when known cheaply; null otherwise (never a table scan)."
    )
    strategy: str | None = Field(
        default=None, description="How the vector part ran: exact (filtered rows) or hnsw."
    )
    lexical_ranking: str | None = Field(
        default=None,
        description="How the lexical part ranked: bm25, or ts_rank where the database has no "
        "pg_textsearch (lexical and hybrid modes only).",
    )
    query_time_ms: float


class SearchResponse(BaseModel):
    data: list[SearchHit]
    meta: SearchMeta
