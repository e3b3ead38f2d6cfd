"""SQL fragments of the events table: the column lists, row decoding and filter conditions.

Every repository that reads events (events' own, search's) builds its queries from these, so a
row reads the same everywhere. This module sits below those repositories and holds no queries:
search may import it, where importing events' repository would be a sibling's repository.
"""

from collections.abc import Sequence
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import structlog

from api.core.database import tenant_is
from api.core.json_limits import JsonLimitError, load_stored
from api.memory.events.exceptions import UnrenderableEvent
from api.memory.events.schemas import EventFilters, EventRead

log = structlog.get_logger(__name__)

Event = TypeVar("Event", bound=EventRead)

# Column lists are constants chosen by code, never by callers. Content and metadata are read as
# text and decoded here, row by row, so that one row the service cannot serve (see
# api/core/json_limits.py) is left out instead of failing every read that meets it.
COLUMNS = (
    "e.id, e.timestamp, e.content::text AS content, e.metadata::text AS metadata, "
    "e.user_id, e.agent_id, e.session_id, e.expires_at, e.importance, e.pinned"
)
# An event not yet expired: part of every events read (filter_clause, and each query by id),
# so an event leaves every result at its expires_at, whenever the purge deletes it.
LIVE = "(e.expires_at IS NULL OR e.expires_at > now())"
COLUMNS_WITH_EMBEDDING = COLUMNS + ", e.embedding"


def columns(include_embedding: bool) -> str:
    return COLUMNS_WITH_EMBEDDING if include_embedding else COLUMNS


def to_event(record: asyncpg.Record, model: type[Event], **extra: Any) -> Event:
    """The event of a row selected with `columns()`, as `model` (EventRead or a subclass, with
    its own fields in `extra`: a search hit is built once, not read and copied), or
    UnrenderableEvent."""
    values = {}
    for field in ("content", "metadata"):
        try:
            values[field] = load_stored(record[field])
        except JsonLimitError as exc:
            raise UnrenderableEvent(record["id"], f"{field} is {exc}") from None
    embedding = record.get("embedding")
    return model(
        id=record["id"],
        timestamp=record["timestamp"],
        content=values["content"],
        metadata=values["metadata"],
        user_id=record["user_id"],
        agent_id=record["agent_id"],
        session_id=record["session_id"],
        expires_at=record["expires_at"],
        importance=record["importance"],
        pinned=record["pinned"],
        embedding=embedding.to_list() if embedding is not None else None,
        **extra,
    )


def to_events(
    records: Sequence[asyncpg.Record],
    model: type[Event],
    extras: Sequence[dict[str, Any]] | None = None,
) -> list[Event | None]:
    """The events of `records`, in order, as `model` with `extras[i]` for row i; None in place
    of a row that cannot be served (it is logged), so a caller paging by offset still knows how
    many rows it read."""
    events: list[Event | None] = []
    for index, record in enumerate(records):
        try:
            events.append(to_event(record, model, **(extras[index] if extras else {})))
        except UnrenderableEvent as exc:
            log.warning("event_unrenderable", event_id=str(exc.event_id), reason=exc.reason)
            events.append(None)
    return events


def filter_clause(
    filters: EventFilters | None, params: list[Any], *, named: UUID | None = None
) -> str:
    """SQL conditions for `filters`, appending their values to `params` as bind parameters.

    The conditions start with the connection's tenant and leave out expired events (LIVE),
    so every query built on them is scoped to it (the vector search adds the same tenant
    condition itself; the planner merges the two). `named`: the connection's tenant named as
    a constant, for a tenant known to be large (`api.core.database.tenant_is`)."""
    conditions = [tenant_is("e", named), LIVE]
    if filters is None:
        return " AND ".join(conditions)
    if filters.metadata:
        params.append(filters.metadata)
        conditions.append(f"e.metadata @> ${len(params)}::jsonb")
    if filters.ts_start is not None:
        params.append(filters.ts_start)
        conditions.append(f"e.timestamp >= ${len(params)}")
    if filters.ts_end is not None:
        params.append(filters.ts_end)
        conditions.append(f"e.timestamp <= ${len(params)}")
    # Column names from the SCOPES constant (what `scopes` yields), never from a caller.
    for name, value in filters.scopes.items():
        params.append(value)
        conditions.append(f"e.{name} = ${len(params)}")
    return " AND ".join(conditions)
