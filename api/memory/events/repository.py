"""All SQL on the events table. Values always travel as bind parameters."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
import pgvector

from api.memory.events.schemas import EventFilters, EventRead, NewEvent
from api.memory.events.sql import COLUMNS, columns, filter_clause, to_event, to_events


async def insert_events(conn: asyncpg.Connection, events: Sequence[NewEvent]) -> list[EventRead]:
    """Insert all events in one statement; return them in the order given."""
    records = await conn.fetch(
        f"""
        INSERT INTO events AS e (id, timestamp, content, metadata, embedding)
        SELECT i.id, coalesce(i.timestamp, now()), i.content, i.metadata, i.embedding
        FROM unnest($1::uuid[], $2::timestamptz[], $3::jsonb[], $4::jsonb[], $5::vector[])
            AS i(id, timestamp, content, metadata, embedding)
        RETURNING {COLUMNS}
        """,
        [event.id for event in events],
        [event.timestamp for event in events],
        [event.content for event in events],
        [event.metadata for event in events],
        [pgvector.Vector(np.asarray(event.embedding, dtype=np.float32)) for event in events],
    )
    by_id = {record["id"]: record for record in records}
    return [to_event(by_id[event.id]) for event in events]


async def get_event(
    conn: asyncpg.Connection, event_id: UUID, *, include_embedding: bool = False
) -> EventRead | None:
    record = await conn.fetchrow(
        f"SELECT {columns(include_embedding)} FROM events e WHERE e.id = $1", event_id
    )
    return to_event(record) if record else None


async def delete_event(conn: asyncpg.Connection, event_id: UUID) -> bool:
    deleted = await conn.fetchval("DELETE FROM events WHERE id = $1 RETURNING id", event_id)
    return deleted is not None


async def merge_metadata(
    conn: asyncpg.Connection, event_id: UUID, patch: dict[str, Any]
) -> EventRead | None:
    """Shallow merge: top-level keys of `patch` replace those of the stored metadata."""
    record = await conn.fetchrow(
        f"""
        UPDATE events AS e SET metadata = e.metadata || $2::jsonb
        WHERE e.id = $1
        RETURNING {COLUMNS}
        """,
        event_id,
        patch,
    )
    return to_event(record) if record else None


async def list_events(
    conn: asyncpg.Connection,
    *,
    filters: EventFilters | None,
    limit: int,
    offset: int,
    include_embedding: bool = False,
) -> list[EventRead | None]:
    """Newest first, None for a row that cannot be served (see `to_events`). Asks for `limit`
    rows; callers ask one more to learn if a page follows."""
    params: list[Any] = []
    where = filter_clause(filters, params)
    params += [limit, offset]
    records = await conn.fetch(
        f"""
        SELECT {columns(include_embedding)} FROM events e
        WHERE {where}
        ORDER BY e.timestamp DESC, e.id DESC
        LIMIT ${len(params) - 1} OFFSET ${len(params)}
        """,
        *params,
    )
    return to_events(records)


async def count_events(conn: asyncpg.Connection, *, exact_below: int) -> tuple[int, bool]:
    """(count, estimated): PostgreSQL's estimate for large tables, an exact count otherwise."""
    estimate = await conn.fetchval(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass('events')"
    )
    if estimate is not None and estimate >= exact_below:
        return int(estimate), True
    exact: int = await conn.fetchval("SELECT count(*) FROM events")
    return exact, False


async def counts_over_time(
    conn: asyncpg.Connection, *, start: datetime, end: datetime, bucket: timedelta
) -> dict[datetime, int]:
    """Events per `bucket`-wide bin from `start` (inclusive) to `end` (exclusive)."""
    records = await conn.fetch(
        """
        SELECT date_bin($3::interval, e.timestamp, $1) AS bin, count(*) AS events
        FROM events e
        WHERE e.timestamp >= $1 AND e.timestamp < $2
        GROUP BY bin
        """,
        start,
        end,
        bucket,
    )
    return {record["bin"]: record["events"] for record in records}
