"""SQL reading the size of the events table, its HNSW index and the server's cache settings."""

import asyncpg

from api.ops.partition.exceptions import NoEventsTable
from api.ops.partition.schemas import EventsStorage


async def events_storage(
    conn: asyncpg.Connection, *, events: int, events_estimated: bool
) -> EventsStorage:
    """Sizes of the events table and its indexes, the time span and the cache settings."""
    sizes = await conn.fetchrow(
        """
        SELECT pg_total_relation_size(t.oid) AS total_bytes,
               pg_indexes_size(t.oid) AS index_bytes,
               (SELECT coalesce(sum(pg_relation_size(i.indexrelid)), 0)::bigint
                FROM pg_index i
                JOIN pg_class ic ON ic.oid = i.indexrelid
                JOIN pg_am am ON am.oid = ic.relam
                WHERE i.indrelid = t.oid AND am.amname = 'hnsw') AS hnsw_bytes,
               pg_size_bytes(current_setting('shared_buffers')) AS shared_buffers_bytes,
               pg_size_bytes(current_setting('effective_cache_size'))
                   AS effective_cache_size_bytes
        FROM pg_class t
        WHERE t.oid = to_regclass('events')
        """
    )
    if sizes is None:
        raise NoEventsTable("the database has no events table: run the migrations first")
    # Every tenant's events (the command runs as the owner, across tenants). The timestamp
    # index leads with tenant_id: two probes of it per tenant, rather than a scan of the table.
    span = await conn.fetchrow(
        """
        SELECT min(s.oldest) AS oldest, max(s.newest) AS newest
        FROM tenants t
        CROSS JOIN LATERAL (
            SELECT (SELECT min(e.timestamp) FROM events e WHERE e.tenant_id = t.id) AS oldest,
                   (SELECT max(e.timestamp) FROM events e WHERE e.tenant_id = t.id) AS newest
        ) s
        """
    )
    return EventsStorage(
        events=events,
        events_estimated=events_estimated,
        table_bytes=sizes["total_bytes"] - sizes["index_bytes"],
        index_bytes=sizes["index_bytes"],
        hnsw_bytes=sizes["hnsw_bytes"],
        total_bytes=sizes["total_bytes"],
        shared_buffers_bytes=sizes["shared_buffers_bytes"],
        effective_cache_size_bytes=sizes["effective_cache_size_bytes"],
        oldest=span["oldest"],
        newest=span["newest"],
    )
