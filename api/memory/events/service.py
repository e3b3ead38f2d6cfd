"""Use cases of the events API: write, read, patch, delete and list events."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from api.core.database import Database
from api.core.errors import InvalidInput, PayloadTooLarge
from api.core.idempotency import service as idempotency
from api.core.idempotency.service import IdempotencyKey, Outcome
from api.core.ids import uuid7
from api.core.json_limits import JsonLimitError, check_storable
from api.core.tenancy import limits
from api.embeddings.exceptions import InvalidEmbedding
from api.embeddings.protocol import Embedder, Vector
from api.embeddings.texts import text_for_embedding
from api.embeddings.vectors import checked_vector
from api.memory.events import repository
from api.memory.events.exceptions import EventNotFound, TextTooLargeToIndex, UnrenderableEvent
from api.memory.events.schemas import (
    Activity,
    ActivityBucket,
    EventBatchRead,
    EventCreate,
    EventFilters,
    EventPage,
    EventPatch,
    EventRead,
    ForgetRequest,
    ForgetResult,
    NewEvent,
    PageMeta,
)


async def prepare_events(
    embedder: Embedder,
    items: Sequence[EventCreate],
    *,
    text_fields: Sequence[str],
    max_items: int | None = None,
) -> list[NewEvent]:
    """Events ready to insert: vectors checked, missing ones computed (the slow part)."""
    if max_items is not None and len(items) > max_items:
        raise PayloadTooLarge(
            f"A batch holds at most {max_items} events (MAX_BATCH_EVENTS); got {len(items)}."
        )
    vectors: list[Vector | None] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if item.embedding is None:
            vectors.append(None)
            continue
        try:
            vectors.append(checked_vector(item.embedding, embedder.dimension))
        except InvalidEmbedding as exc:
            problems.append({"index": index, "field": "embedding", "message": exc.detail})
            vectors.append(None)
    if problems:
        raise InvalidEmbedding(problems)

    missing = [index for index, vector in enumerate(vectors) if vector is None]
    if missing:
        texts = [text_for_embedding(items[index].content, text_fields) for index in missing]
        computed = await embedder.embed_documents(texts)
        for index, vector in zip(missing, computed, strict=True):
            vectors[index] = vector

    return [
        NewEvent(
            id=uuid7(),
            timestamp=item.timestamp,
            content=item.content,
            metadata=item.metadata,
            embedding=vector,
            user_id=item.user_id,
            agent_id=item.agent_id,
            session_id=item.session_id,
            expires_at=item.expires_at,
            ttl_seconds=item.ttl_seconds,
            importance=item.importance,
            pinned=item.pinned,
        )
        for item, vector in zip(items, vectors, strict=True)
        if vector is not None
    ]


async def create_events(
    database: Database,
    embedder: Embedder,
    items: Sequence[EventCreate],
    *,
    key: IdempotencyKey | None,
    text_fields: Sequence[str],
    max_items: int | None = None,
    max_events: int = 0,
) -> Outcome[EventBatchRead]:
    """Write all items or none, once per Idempotency-Key (a retry gets the first result).

    Vectors are checked and computed first, holding no database connection; without a key
    every call writes. `max_events` is the service's default quota (TENANT_MAX_EVENTS).
    """
    if key is not None:
        async with database.connection() as conn:
            replayed = await idempotency.stored_outcome(conn, key, EventBatchRead)
        if replayed is not None:  # a plain retry: nothing to embed
            return replayed
    new_events = await prepare_events(embedder, items, text_fields=text_fields, max_items=max_items)

    async with database.connection() as conn:

        async def write() -> EventBatchRead:
            await limits.ensure_room(conn, "events", len(new_events), default_limit=max_events)
            try:
                return EventBatchRead(events=await repository.insert_events(conn, new_events))
            except asyncpg.exceptions.ProgramLimitExceededError as exc:
                raise TextTooLargeToIndex(str(exc)) from exc

        return await idempotency.write_once(
            conn, key, response_model=EventBatchRead, status_code=201, write=write
        )


async def get_event(
    conn: asyncpg.Connection, event_id: UUID, *, include_embedding: bool = False
) -> EventRead:
    event = await repository.get_event(conn, event_id, include_embedding=include_embedding)
    if event is None:
        raise EventNotFound(event_id)
    return event


async def delete_event(conn: asyncpg.Connection, event_id: UUID) -> None:
    if not await repository.delete_event(conn, event_id):
        raise EventNotFound(event_id)


async def update_event(conn: asyncpg.Connection, event_id: UUID, patch: EventPatch) -> EventRead:
    """Set the importance and pinning the patch gives (an empty patch reads the event)."""
    event = await repository.set_fields(conn, event_id, patch.model_dump(exclude_unset=True))
    if event is None:
        raise EventNotFound(event_id)
    return event


async def merge_metadata(
    conn: asyncpg.Connection, event_id: UUID, patch: dict[str, Any]
) -> EventRead:
    """Checked here too, not only by the routes' schemas: the web UI's form builds its patch."""
    try:
        check_storable(patch)
    except JsonLimitError as exc:
        raise InvalidInput(f"metadata: {exc}") from exc
    try:
        event = await repository.merge_metadata(conn, event_id, patch)
    except UnrenderableEvent as exc:
        raise UnrenderableEvent(exc.event_id, f"{exc.reason}; the metadata was merged") from exc
    if event is None:
        raise EventNotFound(event_id)
    return event


# Events one statement of a forget deletes: each batch is its own short transaction.
FORGET_BATCH = 1_000


async def forget(
    database: Database, request: ForgetRequest, *, batch: int = FORGET_BATCH
) -> ForgetResult:
    """Delete the tenant's events matching the request's filters, in batches (a dry run only
    counts them). Run again, it finds nothing more: `matched` 0. Deletes no more batches than
    the events that matched at the start need, so writes arriving meanwhile cannot keep it
    going."""
    async with database.connection() as conn:
        matched = await repository.count_matching(conn, request)
    deleted = 0
    if not request.dry_run:
        while deleted < matched:
            async with database.connection() as conn:
                done = await repository.delete_matching(conn, request, batch=batch)
            deleted += done
            if done < batch:
                break
    return ForgetResult(matched=matched, deleted=deleted, dry_run=request.dry_run)


async def purge_expired(conn: asyncpg.Connection, *, batch: int) -> int:
    """Delete up to `batch` of the connection's tenant's expired events (api/memory/events/
    expiry.py calls it tenant by tenant); return how many."""
    return await repository.delete_expired(conn, batch=batch)


# Rows a tenant's estimated count is scaled up from (see repository.count_events).
COUNT_SAMPLE_ROWS = 20_000


async def count_events(conn: asyncpg.Connection, *, exact_below: int = 100_000) -> tuple[int, bool]:
    """How many events the tenant holds: exact below `exact_below`, estimated beyond."""
    return await repository.count_events(
        conn, exact_below=exact_below, sample_rows=COUNT_SAMPLE_ROWS
    )


async def count_all_events(
    conn: asyncpg.Connection, *, exact_below: int = 100_000
) -> tuple[int, bool]:
    """How many events the table holds, every tenant's (system work, such as the partition
    check): exact below `exact_below`, PostgreSQL's estimate beyond."""
    return await repository.count_all_events(conn, exact_below=exact_below)


async def list_events(
    conn: asyncpg.Connection,
    *,
    filters: EventFilters | None,
    limit: int,
    offset: int,
    include_embedding: bool = False,
) -> EventPage:
    rows = await repository.list_events(
        conn,
        filters=filters,
        limit=limit + 1,
        offset=offset,
        include_embedding=include_embedding,
    )
    # A row that cannot be served is left out: the page is one short, offsets stay exact.
    page = [row for row in rows[:limit] if row is not None]
    meta = PageMeta(limit=limit, offset=offset, count=len(page), has_more=len(rows) > limit)
    return EventPage(data=page, meta=meta)


# The ranges the dashboard offers (days) and the width of one bar in each (days).
ACTIVITY_RANGES = {7: 1, 30: 1, 90: 1, 365: 7}


async def activity(conn: asyncpg.Connection, *, days: int, now: datetime | None = None) -> Activity:
    """Events per day (per week over a year) up to today, UTC, empty bins included."""
    bucket_days = ACTIVITY_RANGES[days]
    today = (now or datetime.now(UTC)).astimezone(UTC)
    end = today.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    bins = -(-days // bucket_days)  # ceiling: the oldest bin may start a little earlier
    start = end - timedelta(days=bins * bucket_days)
    width = timedelta(days=bucket_days)
    counts = await repository.counts_over_time(conn, start=start, end=end, bucket=width)
    buckets = [
        ActivityBucket(start=bin_start, events=counts.get(bin_start, 0))
        for bin_start in (start + i * width for i in range(bins))
    ]
    return Activity(
        days=days,
        bucket_days=bucket_days,
        total=sum(b.events for b in buckets),
        buckets=buckets,
    )
