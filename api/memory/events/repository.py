"""All SQL on the events table. Values always travel as bind parameters."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
import pgvector

from api.core.database import TENANT
from api.memory.events.schemas import EventFilters, EventRead, NewEvent
from api.memory.events.sql import COLUMNS, LIVE, columns, filter_clause, to_event, to_events


async def insert_events(conn: asyncpg.Connection, events: Sequence[NewEvent]) -> list[EventRead]:
    """Insert all events in one statement; return them in the order given."""
    records = await conn.fetch(
        f"""
        INSERT INTO events AS e (
            tenant_id, id, timestamp, content, metadata, embedding, user_id, agent_id, session_id,
            expires_at, importance, pinned
        )
        SELECT {TENANT}, i.id, coalesce(i.timestamp, now()), i.content, i.metadata,
               i.embedding, i.user_id, i.agent_id, i.session_id,
               coalesce(i.expires_at, now() + i.ttl * interval '1 second'), i.importance, i.pinned
        FROM unnest(
            $1::uuid[], $2::timestamptz[], $3::jsonb[], $4::jsonb[], $5::vector[],
            $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::int[], $11::real[],
            $12::boolean[]
        ) AS i(id, timestamp, content, metadata, embedding, user_id, agent_id, session_id,
               expires_at, ttl, importance, pinned)
        RETURNING {COLUMNS}
        """,
        [event.id for event in events],
        [event.timestamp for event in events],
        [event.content for event in events],
        [event.metadata for event in events],
        [pgvector.Vector(np.asarray(event.embedding, dtype=np.float32)) for event in events],
        [event.user_id for event in events],
        [event.agent_id for event in events],
        [event.session_id for event in events],
        [event.expires_at for event in events],
        [event.ttl_seconds for event in events],
        [event.importance for event in events],
        [event.pinned for event in events],
    )
    by_id = {record["id"]: record for record in records}
    return [to_event(by_id[event.id], EventRead) for event in events]


async def get_event(
    conn: asyncpg.Connection, event_id: UUID, *, include_embedding: bool = False
) -> EventRead | None:
    record = await conn.fetchrow(
        f"""
        SELECT {columns(include_embedding)} FROM events e
        WHERE e.tenant_id = {TENANT} AND e.id = $1 AND {LIVE}
        """,
        event_id,
    )
    return to_event(record, EventRead) if record else None


async def delete_event(conn: asyncpg.Connection, event_id: UUID) -> bool:
    deleted = await conn.fetchval(
        f"DELETE FROM events e WHERE e.tenant_id = {TENANT} AND e.id = $1 AND {LIVE} "
        "RETURNING e.id",
        event_id,
    )
    return deleted is not None


async def merge_metadata(
    conn: asyncpg.Connection, event_id: UUID, patch: dict[str, Any]
) -> EventRead | None:
    """Shallow merge: top-level keys of `patch` replace those of the stored metadata."""
    record = await conn.fetchrow(
        f"""
        UPDATE events AS e SET metadata = e.metadata || $2::jsonb
        WHERE e.tenant_id = {TENANT} AND e.id = $1 AND {LIVE}
        RETURNING {COLUMNS}
        """,
        event_id,
        patch,
    )
    return to_event(record, EventRead) if record else None


async def set_fields(
    conn: asyncpg.Connection, event_id: UUID, fields: dict[str, Any]
) -> EventRead | None:
    """Set the `importance` (a number, or None: none) and `pinned` given in `fields`; the
    others keep their values."""
    record = await conn.fetchrow(
        f"""
        UPDATE events AS e
        SET importance = CASE WHEN $2 THEN $3::real ELSE e.importance END,
            pinned = coalesce($4::boolean, e.pinned)
        WHERE e.tenant_id = {TENANT} AND e.id = $1 AND {LIVE}
        RETURNING {COLUMNS}
        """,
        event_id,
        "importance" in fields,
        fields.get("importance"),
        fields.get("pinned"),
    )
    return to_event(record, EventRead) if record else None


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
    return to_events(records, EventRead)


async def count_events(
    conn: asyncpg.Connection, *, exact_below: int, sample_rows: int
) -> tuple[int, bool]:
    """(count, estimated) of the tenant's events: exact up to `exact_below`; beyond, scaled up
    from a page sample of about `sample_rows` rows of the table.

    PostgreSQL's own estimate (reltuples) covers every tenant, and under Row-Level Security
    the tenant's share of it is out of sight (pg_stats hides such tables), so the tenant's
    rows in a sample of the table's pages stand for it."""
    exact: int = await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 FROM events e WHERE e.tenant_id = {TENANT} AND {LIVE} "
        "LIMIT $1) s",
        exact_below,
    )
    if exact < exact_below:
        return exact, False
    table_rows = await conn.fetchval(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass('events')"
    )
    # Never analysed (-1) or small: the whole table is the sample, an exact count.
    percent = 100.0
    if table_rows and table_rows > sample_rows:
        percent = 100 * sample_rows / table_rows
    # The percentage as a constant, ours: Citus sends a parameter here to the shard as text.
    sampled: int = await conn.fetchval(
        f"SELECT count(*) FROM events e TABLESAMPLE SYSTEM ({float(percent):.9g}) "
        f"WHERE e.tenant_id = {TENANT} AND {LIVE}"
    )
    # At least the rows counted exactly: a sample may miss the tenant's pages.
    return max(round(sampled * 100 / percent), exact_below), True


async def count_all_events(conn: asyncpg.Connection, *, exact_below: int) -> tuple[int, bool]:
    """(count, estimated) of every tenant's events, for system work (the partition check, as
    the tables' owner): PostgreSQL's estimate for large tables, an exact count otherwise."""
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
        f"""
        SELECT date_bin($3::interval, e.timestamp, $1) AS bin, count(*) AS events
        FROM events e
        WHERE e.tenant_id = {TENANT} AND e.timestamp >= $1 AND e.timestamp < $2 AND {LIVE}
        GROUP BY bin
        """,
        start,
        end,
        bucket,
    )
    return {record["bin"]: record["events"] for record in records}


async def delete_expired(conn: asyncpg.Connection, *, batch: int) -> int:
    """Delete at most `batch` of the tenant's expired events, the longest expired first; return
    how many (a short statement: the purge calls it again until fewer come back)."""
    status: str = await conn.execute(
        f"""
        DELETE FROM events e
        WHERE e.tenant_id = {TENANT} AND e.id IN (
            SELECT x.id FROM events x
            WHERE x.tenant_id = {TENANT} AND x.expires_at <= now()
            ORDER BY x.expires_at LIMIT $1
        )
        """,
        batch,
    )
    return int(status.split()[-1])


async def count_matching(conn: asyncpg.Connection, filters: EventFilters) -> int:
    params: list[Any] = []
    where = filter_clause(filters, params)
    count: int = await conn.fetchval(f"SELECT count(*) FROM events e WHERE {where}", *params)
    return count


async def delete_matching(conn: asyncpg.Connection, filters: EventFilters, *, batch: int) -> int:
    """Delete at most `batch` of the tenant's events matching `filters`; return how many."""
    params: list[Any] = []
    where = filter_clause(filters, params)
    params.append(batch)
    status: str = await conn.execute(
        f"""
        DELETE FROM events d
        WHERE d.tenant_id = {TENANT} AND d.id IN (
            SELECT e.id FROM events e WHERE {where} LIMIT ${len(params)}
        )
        """,
        *params,
    )
    return int(status.split()[-1])
