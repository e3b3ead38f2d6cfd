"""Whether the events table has reached the size at which partitioning is worth its cost.

The decision and its reasons are in docs/operations.md ("Partitioning: postponed, and when to
revisit"); this module measures the triggers named there.
"""

import asyncpg

from api.memory.events import service as events
from api.ops.partition import repository
from api.ops.partition.exceptions import NoEventsTable
from api.ops.partition.schemas import EventsStorage, PartitionReadiness, PartitionThresholds

# count(*) over 100k rows takes tens of ms; above that pg_class.reltuples (kept by ANALYZE)
# is close enough for a threshold of 500k.
EXACT_COUNT_BELOW = 100_000

RETENTION_NOTE = (
    "Not measured: retention. If whole months must be dropped quickly, that need alone is a "
    "reason to partition by time (docs/operations.md)."
)


async def partition_readiness(
    conn: asyncpg.Connection, *, thresholds: PartitionThresholds | None = None
) -> PartitionReadiness:
    storage = await events_storage(conn)
    return assess(storage, thresholds or PartitionThresholds())


async def events_storage(
    conn: asyncpg.Connection, *, exact_below: int = EXACT_COUNT_BELOW
) -> EventsStorage:
    """The events table's row count (estimated above `exact_below`), sizes and cache settings."""
    try:
        # The whole table, every tenant's rows: its size is what partitioning is about.
        count, estimated = await events.count_all_events(conn, exact_below=exact_below)
    except asyncpg.UndefinedTableError as exc:
        raise NoEventsTable("the database has no events table: run the migrations first") from exc
    return await repository.events_storage(conn, events=count, events_estimated=estimated)


def assess(storage: EventsStorage, thresholds: PartitionThresholds) -> PartitionReadiness:
    """The verdict for `storage`: pure, so the thresholds are tested without a database."""
    triggers: list[str] = []
    margins: list[str] = []
    count = f"{storage.events:,} events" + (" (estimate)" if storage.events_estimated else "")
    if storage.events >= thresholds.events:
        triggers.append(
            f"{count}: at or above {thresholds.events:,}, beyond the sizes measured "
            "(100k events: vector search P95 6.6 ms). Measure search latency at this size."
        )
    else:
        margins.append(f"{count}, below {thresholds.events:,}.")

    limit = storage.shared_buffers_bytes * thresholds.hnsw_share_of_shared_buffers
    hnsw = human_bytes(storage.hnsw_bytes)
    buffers = human_bytes(storage.shared_buffers_bytes)
    if storage.hnsw_bytes > limit:
        triggers.append(
            f"The HNSW index ({hnsw}) no longer fits in shared_buffers ({buffers}): searches "
            "read index pages from outside PostgreSQL's cache. Raise shared_buffers first if "
            "the machine has the memory (about 25% of RAM); partition by time only if most "
            "searches are limited to recent events, so that only recent indexes stay cached."
        )
    else:
        share = storage.hnsw_bytes / storage.shared_buffers_bytes
        filled = f"{share:.0%}" if share >= 0.01 else "under 1%"
        margins.append(f"The HNSW index ({hnsw}) fills {filled} of shared_buffers ({buffers}).")

    advice = []
    if storage.events >= thresholds.min_events_for_projection and storage.hnsw_bytes:
        per_event = storage.hnsw_bytes / storage.events
        capacity = int(storage.shared_buffers_bytes / per_event)
        advice.append(
            f"At {human_bytes(per_event)} of HNSW index per event, shared_buffers holds the "
            f"index of about {capacity:,} events."
        )
    advice.append(RETENTION_NOTE)
    return PartitionReadiness(
        verdict="consider partitioning" if triggers else "postpone",
        reasons=triggers or margins,
        advice=advice,
        storage=storage,
        thresholds=thresholds,
    )


def human_bytes(size: float) -> str:
    """1536 -> '1.5 kB'; binary multiples, as pg_size_pretty."""
    value = float(size)
    for unit in ("bytes", "kB", "MB"):
        if abs(value) < 1024:
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} GB"
