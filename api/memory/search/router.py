"""HTTP routes of event search: GET (v1 query parameters), POST (JSON body), by embedding."""

import base64
import binascii
import contextlib
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import ValidationError

from api.core.database import DatabaseDep
from api.core.dependencies import (
    IncludeEmbedding,
    MetricsDep,
    TuningDep,
    parse_json_object,
)
from api.core.errors import InvalidInput, invalid_fields
from api.core.vectors.schemas import MAX_QUERY_CHARS
from api.embeddings.dependencies import EmbedderDep
from api.embeddings.vectors import EmbeddingInput
from api.memory.events.schemas import EventRead, ScopeId
from api.memory.search import service
from api.memory.search.schemas import SearchMode, SearchRequest, SearchResponse

search_routes = APIRouter(prefix="/v1/search", tags=["search"])
# v1 put vector search under /v1/events; the path stays, the route lives with search.
event_routes = APIRouter(prefix="/v1/events", tags=["events"])

# The scope filters as query parameters (exact match), as GET /v1/events takes them.
UserId = Annotated[ScopeId | None, Query(description="Only the events of this user_id.")]
AgentId = Annotated[ScopeId | None, Query(description="Only the events of this agent_id.")]
SessionId = Annotated[ScopeId | None, Query(description="Only the events of this session_id.")]


def parse_vector_query(raw: str | None) -> tuple[list[float] | None, str | None]:
    """v1's `vector_query`: base64 of a JSON array (v1 clients), a JSON array, or plain text.

    Returns (vector, text): exactly one of them is set when `raw` is given.
    """
    if raw is None or not raw.strip():
        return None, None
    candidates = [raw]
    with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
        candidates.append(base64.b64decode(raw, validate=True).decode("utf-8"))
    for candidate in candidates:
        stripped = candidate.strip()
        if not stripped.startswith("["):
            continue
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            raise InvalidInput(f"vector_query looks like a JSON array but is not: {exc}") from exc
        except RecursionError as exc:
            raise InvalidInput("vector_query is nested too deeply to parse.") from exc
        if not isinstance(value, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in value
        ):
            raise InvalidInput("vector_query must be an array of numbers.")
        return [float(x) for x in value], None
    return None, raw


@search_routes.get("", response_model=SearchResponse)
async def search_get(
    database: DatabaseDep,
    embedder: EmbedderDep,
    tuning: TuningDep,
    metrics: MetricsDep,
    query: Annotated[
        str | None, Query(max_length=MAX_QUERY_CHARS, description="Text to search for.")
    ] = None,
    vector_query: Annotated[
        str | None,
        Query(description="Query vector as a JSON array or base64 of one (v1), or text."),
    ] = None,
    filter_metadata: Annotated[
        str | None, Query(description='Metadata containment filter, JSON: {"type": "note"}.')
    ] = None,
    ts_start: Annotated[datetime | None, Query()] = None,
    ts_end: Annotated[datetime | None, Query()] = None,
    user_id: UserId = None,
    agent_id: AgentId = None,
    session_id: SessionId = None,
    mode: Annotated[SearchMode, Query()] = "hybrid",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=1000)] = 0,
    distance_threshold: Annotated[float | None, Query(ge=0, le=2)] = None,
    top_k: Annotated[
        int | None, Query(ge=1, le=1000, deprecated=True, description="Ignored (v1).")
    ] = None,
    include_embedding: IncludeEmbedding = False,
) -> SearchResponse:
    """Search events by meaning, keywords, metadata and time (query-string form)."""
    vector, text = parse_vector_query(vector_query)
    fields: dict[str, Any] = {
        "query": query if query is not None else text,
        "vector": vector,
        "metadata": parse_json_object(filter_metadata, name="filter_metadata"),
        "ts_start": ts_start,
        "ts_end": ts_end,
        "user_id": user_id,
        "agent_id": agent_id,
        "session_id": session_id,
        "mode": mode,
        "limit": limit,
        "offset": offset,
        "distance_threshold": distance_threshold,
        "include_embedding": include_embedding,
    }
    try:
        request = SearchRequest(**fields)
    except ValidationError as exc:
        raise invalid_fields(exc, whole="query") from exc
    return await service.search_embed_first(
        database, embedder, request, tuning=tuning, metrics=metrics
    )


@search_routes.post("", response_model=SearchResponse)
async def search_post(
    request: SearchRequest,
    database: DatabaseDep,
    embedder: EmbedderDep,
    tuning: TuningDep,
    metrics: MetricsDep,
) -> SearchResponse:
    """Search events by meaning, keywords, metadata and time (JSON body form)."""
    return await service.search_embed_first(
        database, embedder, request, tuning=tuning, metrics=metrics
    )


@event_routes.post("/search/embedding", response_model=list[EventRead])
async def search_by_embedding(
    vector: Annotated[EmbeddingInput, Body(description="The query vector.")],
    database: DatabaseDep,
    embedder: EmbedderDep,
    tuning: TuningDep,
    metrics: MetricsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 5,
    user_id: UserId = None,
    agent_id: AgentId = None,
    session_id: SessionId = None,
) -> list[EventRead]:
    """Events nearest to a supplied vector, with similarity_score and distance."""
    request = SearchRequest(
        vector=vector,
        mode="vector",
        limit=limit,
        user_id=user_id,
        agent_id=agent_id,
        session_id=session_id,
    )
    result = await service.search_embed_first(
        database, embedder, request, tuning=tuning, metrics=metrics
    )
    return [EventRead(**hit.model_dump(exclude={"score", "ranks"})) for hit in result.data]


# Included last: include_router copies the routes declared above.
router = APIRouter()
router.include_router(search_routes)
router.include_router(event_routes)
