"""HTTP routes of code search (paths of MnemoLite v1). Routes that embed take the database,
not a connection: the query is embedded before one is taken."""

from fastapi import APIRouter

from api.code.search import service
from api.code.search.schemas import (
    CodeSearchResponse,
    HybridSearchRequest,
    HybridSearchResponse,
    LexicalSearchRequest,
    VectorSearchRequest,
)
from api.core.database import DatabaseDep, ReadConn
from api.core.dependencies import MetricsDep, TuningDep
from api.embeddings.dependencies import EmbeddersDep

router = APIRouter(prefix="/v1/code/search", tags=["code"])


@router.post("/hybrid", response_model=HybridSearchResponse)
async def hybrid(
    request: HybridSearchRequest,
    database: DatabaseDep,
    embedders: EmbeddersDep,
    tuning: TuningDep,
    metrics: MetricsDep,
) -> HybridSearchResponse:
    """Code by meaning and words: lexical, text-vector and code-vector lists fused by score."""
    return await service.hybrid_embed_first(
        database, embedders, request, tuning=tuning, metrics=metrics
    )


@router.post("/lexical", response_model=CodeSearchResponse)
async def lexical(
    request: LexicalSearchRequest, conn: ReadConn, tuning: TuningDep, metrics: MetricsDep
) -> CodeSearchResponse:
    """Code whose identifiers, comments or docstrings contain the query's words."""
    return await service.lexical(conn, request, tuning=tuning, metrics=metrics)


@router.post("/vector", response_model=CodeSearchResponse)
async def vector(
    request: VectorSearchRequest,
    database: DatabaseDep,
    embedders: EmbeddersDep,
    tuning: TuningDep,
    metrics: MetricsDep,
) -> CodeSearchResponse:
    """Code nearest to the query, by its description (TEXT) or its source (CODE)."""
    return await service.vector_embed_first(
        database, embedders, request, tuning=tuning, metrics=metrics
    )
