"""The size of the events table and the partitioning verdict drawn from it."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

Verdict = Literal["postpone", "consider partitioning"]


class EventsStorage(BaseModel):
    """What PostgreSQL says about the events table and the memory it has to cache it."""

    events: int
    events_estimated: bool
    table_bytes: int
    index_bytes: int
    hnsw_bytes: int
    total_bytes: int
    shared_buffers_bytes: int
    effective_cache_size_bytes: int
    oldest: datetime | None
    newest: datetime | None


class PartitionThresholds(BaseModel):
    """When to revisit the decision (docs/operations.md, "Partitioning")."""

    # Measured: 100k events answered vector queries at P95 6.6 ms (docs/benchmarks.md); the
    # 384-d HNSW index was ~195 MB, so at ~500k it reaches the embedded server's 1 GB of
    # shared_buffers.
    events: int = 500_000
    # The HNSW index outgrowing shared_buffers: at 100k events with 128 MB of buffers a third
    # of the index came from the OS cache on every query (P95 9.2 ms against 7.0 ms at 1 GB).
    hnsw_share_of_shared_buffers: float = 1.0
    # Below this many rows a bytes-per-event figure is mostly page overhead.
    min_events_for_projection: int = 1_000


class PartitionReadiness(BaseModel):
    verdict: Verdict
    reasons: list[str]
    advice: list[str]
    storage: EventsStorage
    thresholds: PartitionThresholds
