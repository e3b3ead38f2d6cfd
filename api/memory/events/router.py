"""HTTP routes of the events API (paths of MnemoLite v1, plus batch creation).

POST /v1/events/search/embedding is a search: it lives in api/memory/search/router.py, which
sits above events."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response, status

from api.core.database import Conn, DatabaseDep, ReadConn
from api.core.dependencies import IncludeEmbedding, Limit, Offset, SettingsDep
from api.core.idempotency.dependencies import IdempotencyKeyDep, mark_replay
from api.embeddings.dependencies import EmbedderDep
from api.memory.events import service
from api.memory.events.dependencies import QueryFilters, ValidEvent
from api.memory.events.schemas import (
    EventBatchCreate,
    EventBatchRead,
    EventCreate,
    EventFilters,
    EventPage,
    EventPatch,
    EventRead,
    FilterMetadata,
    ForgetRequest,
    ForgetResult,
    JsonObject,
    ScopeId,
)

router = APIRouter(prefix="/v1/events", tags=["events"])

# The scope filters as query parameters (exact match), checked as the stored columns are.
UserId = Annotated[ScopeId | None, Query(description="Only the events of this user_id.")]
AgentId = Annotated[ScopeId | None, Query(description="Only the events of this agent_id.")]
SessionId = Annotated[ScopeId | None, Query(description="Only the events of this session_id.")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EventRead)
async def create_event(
    event: EventCreate,
    database: DatabaseDep,
    embedder: EmbedderDep,
    settings: SettingsDep,
    key: IdempotencyKeyDep,
    response: Response,
) -> EventRead:
    """Store one event; its embedding is computed from the content when not given."""
    outcome = await service.create_events(
        database,
        embedder,
        [event],
        key=key,
        text_fields=settings.embedding_text_fields,
        max_events=settings.tenant_max_events,
    )
    mark_replay(response, outcome)
    return outcome.result.events[0]


@router.post("/batch", status_code=status.HTTP_201_CREATED, response_model=EventBatchRead)
async def create_events(
    batch: EventBatchCreate,
    database: DatabaseDep,
    embedder: EmbedderDep,
    settings: SettingsDep,
    key: IdempotencyKeyDep,
    response: Response,
) -> EventBatchRead:
    """Store many events at once: all are written, or none (with per-item errors)."""
    outcome = await service.create_events(
        database,
        embedder,
        batch.events,
        key=key,
        text_fields=settings.embedding_text_fields,
        max_items=settings.max_batch_events,
        max_events=settings.tenant_max_events,
    )
    mark_replay(response, outcome)
    return outcome.result


@router.get("", response_model=EventPage)
async def list_events(
    conn: ReadConn,
    filters: QueryFilters,
    user_id: UserId = None,
    agent_id: AgentId = None,
    session_id: SessionId = None,
    limit: Limit = 20,
    offset: Offset = 0,
    include_embedding: IncludeEmbedding = False,
) -> EventPage:
    """List events, newest first, filtered by metadata, time window and scopes."""
    scoped = filters.model_copy(
        update={"user_id": user_id, "agent_id": agent_id, "session_id": session_id}
    )
    return await service.list_events(
        conn, filters=scoped, limit=limit, offset=offset, include_embedding=include_embedding
    )


@router.get("/{event_id}", response_model=EventRead)
async def get_event(event: ValidEvent) -> EventRead:
    """Fetch one event by id."""
    return event


@router.delete("/{event_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_event(event_id: UUID, conn: Conn) -> Response:
    """Delete one event by id."""
    await service.delete_event(conn, event_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch("/{event_id}", response_model=EventRead)
async def update_event(event_id: UUID, patch: EventPatch, conn: Conn) -> EventRead:
    """Set an event's importance (0 to 1, or null) and whether it is pinned."""
    return await service.update_event(conn, event_id, patch)


@router.patch("/{event_id}/metadata", response_model=EventRead)
async def update_metadata(
    event_id: UUID,
    patch: Annotated[JsonObject, Body(description="Keys to set (shallow merge).")],
    conn: Conn,
) -> EventRead:
    """Merge keys into an event's metadata (top-level keys replace existing ones)."""
    return await service.merge_metadata(conn, event_id, patch)


@router.post("/forget", response_model=ForgetResult)
async def forget_events(request: ForgetRequest, database: DatabaseDep) -> ForgetResult:
    """Delete the events matching the filters (as search takes them; at least one), in
    batches; `dry_run` only counts them. Running it again deletes nothing more."""
    return await service.forget(database, request)


@router.post("/filter/metadata", response_model=list[EventRead])
async def filter_by_metadata(
    metadata: Annotated[FilterMetadata, Body(description="Containment filter on metadata.")],
    conn: ReadConn,
    user_id: UserId = None,
    agent_id: AgentId = None,
    session_id: SessionId = None,
    limit: Limit = 10,
    offset: Offset = 0,
) -> list[EventRead]:
    """Events whose metadata contains the given object, newest first."""
    filters = EventFilters(
        metadata=metadata, user_id=user_id, agent_id=agent_id, session_id=session_id
    )
    page = await service.list_events(conn, filters=filters, limit=limit, offset=offset)
    return page.data
