"""Switch the embedding model: re-embed every event and code chunk of every tenant, resize the
vector columns.

1. New columns `<column>_next vector(N)` are added beside the old ones (no table rewrite), each
   noting in its comment which models and dimension it is for.
2. They are filled in batches: the batch is embedded outside any transaction, then written by
   one UPDATE.
3. Their HNSW indexes are built, as the migrations build them (HNSW_STORAGE, HNSW_M, ...).
4. One short transaction locks both tables, checks that no row lacks its new vector, drops the
   old columns with their indexes and gives the new ones the old names.

Until step 4 the old columns are untouched. A run stopped anywhere before it is resumed by
running it again: with the same models and dimension the rows already converted are kept; with
others the new columns are dropped and started over. No row is ever deleted.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
import structlog

from api.code.index.texts import as_chunk, embedding_text
from api.core.schema.service import ensure_schema
from api.core.vectors.schemas import HnswStorage
from api.embeddings.factory import Embedders
from api.embeddings.protocol import Embedder, Vector
from api.embeddings.texts import text_for_embedding
from api.ops.model_switch import repository
from api.ops.model_switch.repository import VECTOR_COLUMNS
from api.ops.model_switch.schemas import ChunkToEmbed, RowKey, SwitchResult
from api.ops.transfer.schemas import VectorSpace

log = structlog.get_logger(__name__)

BATCH_SIZE = 256
# Before every (tenant_id, id) key.
NIL: RowKey = (UUID(int=0), UUID(int=0))
# The swap needs both tables to itself; a busy table means something still uses the database.
LOCK_TIMEOUT_MS = 10_000
# A service stopped a moment ago may still be closing its connections.
STOP_GRACE_SECONDS = 3.0

# (stage, done, total): "events", "chunks", "indexes".
Progress = Callable[[str, int, int], None]


class SwitchError(RuntimeError):
    """The switch cannot go ahead (or on); the message says what to do."""


async def ensure_service_stopped(
    conn: asyncpg.Connection,
    *,
    grace_seconds: float = STOP_GRACE_SECONDS,
    before: str = "switching the model (its queries would break when the columns are swapped)",
) -> None:
    """Raise SwitchError while a service or worker is connected; `before` says to what."""
    deadline = time.monotonic() + grace_seconds
    while (sessions := await repository.service_sessions(conn)) > 0:
        if time.monotonic() >= deadline:
            raise SwitchError(
                f"A running MnemoLite service or worker holds {sessions} connection(s) to this "
                f"database: stop it before {before}."
            )
        await asyncio.sleep(0.25)


async def switch_model(
    conn: asyncpg.Connection,
    embedders: Embedders,
    *,
    text_fields: Sequence[str],
    hnsw_m: int,
    hnsw_ef_construction: int,
    hnsw_storage: HnswStorage = "vector",
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    head: str | None = None,
) -> SwitchResult:
    """Re-embed everything with `embedders` and make their dimension the columns' dimension."""
    started = time.perf_counter()
    target = VectorSpace(
        text_model=embedders.text.model_name,
        code_model=embedders.code.model_name,
        dimension=embedders.text.dimension,
    )
    report = progress or (lambda stage, done, total: None)
    await ensure_service_stopped(conn)
    # Any size will do: the switch is what changes it.
    schema = await ensure_schema(conn, dimension=None, head=head)
    old_dimension = schema.dimension
    assert old_dimension is not None  # the schema is at head, so the column exists
    resumed = await _prepare(conn, target)
    log.info("model_switch_started", **target.model_dump(), resumed=resumed)

    embedded_events = await _fill_events(conn, embedders, text_fields, batch_size, report)
    texts, codes = await _fill_chunks(conn, embedders, batch_size, report)
    for done, column in enumerate(VECTOR_COLUMNS):
        report("indexes", done, len(VECTOR_COLUMNS))
        await repository.create_new_index(
            conn,
            column,
            storage=hnsw_storage,
            dimension=target.dimension,
            m=hnsw_m,
            ef_construction=hnsw_ef_construction,
        )
    report("indexes", len(VECTOR_COLUMNS), len(VECTOR_COLUMNS))

    swap_started = time.perf_counter()
    async with _altering(conn):
        await repository.lock_tables(conn)
        left = await repository.remaining(conn)
        if left.total:
            raise SwitchError(
                f"{left.total} vector(s) were written while the switch ran (is the service "
                "running?): stop it and run the command again to convert them."
            )
        for column in VECTOR_COLUMNS:
            await repository.replace_column(conn, column)
    log.info("model_switch_swapped", ms=round((time.perf_counter() - swap_started) * 1000, 1))
    try:
        await repository.vacuum_analyze(conn)
    except asyncpg.PostgresError as exc:
        # The switch is complete; only housekeeping failed, and autovacuum will catch up.
        log.warning("model_switch_vacuum_failed", error=repr(exc))

    events, chunks = await repository.row_counts(conn)
    result = SwitchResult(
        **target.model_dump(),
        old_dimension=old_dimension,
        resumed=resumed,
        events=events,
        chunks=chunks,
        embedded_events=embedded_events,
        embedded_chunk_texts=texts,
        embedded_chunk_codes=codes,
        seconds=round(time.perf_counter() - started, 2),
    )
    log.info("model_switch_done", **result.model_dump())
    return result


async def abandon(conn: asyncpg.Connection) -> list[str]:
    """Drop the new columns of an unfinished switch; return the columns dropped."""
    dropped = []
    async with _altering(conn):
        for column in VECTOR_COLUMNS:
            if await repository.column_note(conn, column.table, column.new_column) is not None:
                await repository.drop_new_column(conn, column)
                dropped.append(f"{column.table}.{column.new_column}")
    return dropped


@asynccontextmanager
async def _altering(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """A transaction that changes the tables' definition: it needs them to itself, so it gives
    up after LOCK_TIMEOUT_MS rather than wait (and make every other query wait) behind another
    session's transaction."""
    async with conn.transaction():
        await repository.set_lock_timeout(conn, timeout_ms=LOCK_TIMEOUT_MS)
        try:
            yield
        except asyncpg.LockNotAvailableError as exc:
            raise SwitchError(
                "Could not lock events and code_chunks: another session is using them. Stop "
                "the service and run the command again (the vectors computed so far are kept)."
            ) from exc


async def _prepare(conn: asyncpg.Connection, target: VectorSpace) -> bool:
    """Add the new columns; True when they were there already, made for the same target."""
    note = target.model_dump_json()
    resumed = False
    async with _altering(conn):
        for column in VECTOR_COLUMNS:
            current = await repository.column_note(conn, column.table, column.new_column)
            if current == (target.dimension, note):
                resumed = True
                continue
            if current is not None:
                # Vectors of another model or size: mixing them in would corrupt the space.
                log.info("model_switch_discarding_partial", column=column.new_column)
                await repository.drop_new_column(conn, column)
            await repository.add_new_column(conn, column, dimension=target.dimension, note=note)
    return resumed


async def _fill_events(
    conn: asyncpg.Connection,
    embedders: Embedders,
    text_fields: Sequence[str],
    batch_size: int,
    report: Progress,
) -> int:
    total = (await repository.remaining(conn)).events
    done = 0
    after = NIL
    report("events", 0, total)
    while rows := await repository.events_to_embed(conn, after=after, limit=batch_size):
        texts = [text_for_embedding(row.content, text_fields) for row in rows]
        vectors = await embedders.text.embed_documents(texts)
        await repository.set_event_vectors(conn, [row.key for row in rows], list(vectors))
        after = rows[-1].key
        done += len(rows)
        report("events", done, total)
    return done


async def _fill_chunks(
    conn: asyncpg.Connection, embedders: Embedders, batch_size: int, report: Progress
) -> tuple[int, int]:
    left = await repository.remaining(conn)
    total = max(left.chunk_texts, left.chunk_codes)
    texts = codes = done = 0
    after = NIL
    report("chunks", 0, total)
    while rows := await repository.chunks_to_embed(conn, after=after, limit=batch_size):
        text_vectors = await _embed_some(
            embedders.text, rows, lambda row: embedding_text(as_chunk(row)), lambda r: r.needs_text
        )
        code_vectors = await _embed_some(
            embedders.code, rows, lambda row: row.source_code, lambda r: r.needs_code
        )
        await repository.set_chunk_vectors(
            conn, [row.key for row in rows], text_vectors, code_vectors
        )
        texts += sum(row.needs_text for row in rows)
        codes += sum(row.needs_code for row in rows)
        after = rows[-1].key
        done += len(rows)
        report("chunks", min(done, total), total)
    return texts, codes


async def _embed_some(
    embedder: Embedder,
    rows: Sequence[ChunkToEmbed],
    text_of: Callable[[ChunkToEmbed], str],
    needed: Callable[[ChunkToEmbed], bool],
) -> list[Vector | None]:
    """A vector for each row that needs one, None for the others."""
    wanted = [index for index, row in enumerate(rows) if needed(row)]
    vectors: list[Vector | None] = [None] * len(rows)
    if wanted:
        computed = await embedder.embed_documents([text_of(rows[index]) for index in wanted])
        for index, vector in zip(wanted, computed, strict=True):
            vectors[index] = vector
    return vectors
