"""Request and response shapes of code search (field names of MnemoLite v1)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.core.vectors.schemas import MAX_QUERY_CHARS  # one bound for every search
from api.embeddings.vectors import EmbeddingInput


class CodeFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repository: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=40)
    chunk_type: str | None = Field(default=None, max_length=40, description="function, method...")
    file_path: str | None = Field(default=None, max_length=1000, description="A path prefix.")

    @property
    def active(self) -> bool:
        return any(
            v is not None for v in (self.repository, self.language, self.chunk_type, self.file_path)
        )


class LexicalSearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    filters: CodeFilters = Field(default_factory=CodeFilters)
    limit: int = Field(default=10, ge=1, le=100)


class VectorSearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(default=None, min_length=1, max_length=MAX_QUERY_CHARS)
    embedding: EmbeddingInput | None = None
    embedding_domain: Literal["TEXT", "CODE"] = "TEXT"
    filters: CodeFilters = Field(default_factory=CodeFilters)
    limit: int = Field(default=10, ge=1, le=100)


class HybridSearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    embedding_text: EmbeddingInput | None = None
    embedding_code: EmbeddingInput | None = None
    filters: CodeFilters = Field(default_factory=CodeFilters)
    top_k: int = Field(default=10, ge=1, le=100)
    enable_lexical: bool = True
    enable_vector: bool = True
    lexical_weight: float = Field(default=0.4, ge=0, le=10)
    vector_weight: float = Field(default=0.6, ge=0, le=10)
    candidate_pool_size: int = Field(default=50, ge=1, le=500)


class CodeHit(BaseModel):
    chunk_id: str
    rank: int
    name: str
    qualified_name: str
    chunk_type: str
    language: str
    repository: str
    file_path: str
    start_line: int
    end_line: int
    source_code: str
    metadata: dict[str, Any]
    score: float = Field(description="The ranking score of the method that produced the list.")
    lexical_score: float | None = None
    vector_similarity: float | None = None
    ranks: dict[str, int] | None = Field(default=None, description="Rank in each method (hybrid).")
    contribution: dict[str, float] | None = Field(
        default=None, description="Share of the fused score from each method (hybrid)."
    )


class CodeSearchResponse(BaseModel):
    results: list[CodeHit]
    total_results: int
    lexical_ranking: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="How lexical search ranked: bm25, or ts_rank where the database has no "
        "pg_textsearch (lexical search only).",
    )


class HybridSearchResponse(BaseModel):
    results: list[CodeHit]
    metadata: dict[str, Any]
