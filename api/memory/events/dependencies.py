"""Dependencies of the events domain: a path id resolved to an existing event, query filters."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query
from pydantic import ValidationError

from api.core.database import ReadConn
from api.core.dependencies import IncludeEmbedding, parse_json_object
from api.core.errors import invalid_fields
from api.memory.events import service
from api.memory.events.schemas import EventFilters, EventRead


async def valid_event(
    event_id: UUID, conn: ReadConn, include_embedding: IncludeEmbedding = False
) -> EventRead:
    return await service.get_event(conn, event_id, include_embedding=include_embedding)


ValidEvent = Annotated[EventRead, Depends(valid_event)]


def make_filters(
    metadata: dict[str, Any] | None, ts_start: datetime | None, ts_end: datetime | None
) -> EventFilters:
    try:
        return EventFilters(metadata=metadata, ts_start=ts_start, ts_end=ts_end)
    except ValidationError as exc:
        raise invalid_fields(exc, whole="query") from exc


async def query_filters(
    filter_metadata: Annotated[
        str | None,
        Query(description='Metadata containment filter as a JSON object, e.g. {"type": "note"}.'),
    ] = None,
    ts_start: Annotated[
        datetime | None, Query(description="Earliest timestamp (ISO 8601).")
    ] = None,
    ts_end: Annotated[datetime | None, Query(description="Latest timestamp (ISO 8601).")] = None,
) -> EventFilters:
    metadata = parse_json_object(filter_metadata, name="filter_metadata")
    return make_filters(metadata, ts_start, ts_end)


QueryFilters = Annotated[EventFilters, Depends(query_filters)]
