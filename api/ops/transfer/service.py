"""Export the memory to JSON Lines and import it back, into this or another database.

Both work on one tenant, the connection's (`use_tenant`): an export holds that tenant's rows
only, and an import writes into it, whichever tenant the file came from.

Export streams every table through a server-side cursor inside one REPEATABLE READ transaction,
so the file is a consistent snapshot however long it takes, and memory stays flat.

Import reads the file twice. The first pass (`scan_file`) only validates: with a bad line,
nothing is written unless the caller accepts to skip bad lines; either way every bad line is
reported with its number. The second pass writes in batches, each in its own short transaction
after its embeddings are computed. Rows that already exist (same id; for files also the same
repository and path) are skipped, so importing a file twice adds nothing, and an interrupted
import is completed by running it again. Vectors are copied only when the file's model and
dimension equal the target's; otherwise the texts are embedded again with the target's models,
so one column never mixes two vector spaces.
"""

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar
from uuid import UUID

import asyncpg
import numpy as np
import structlog

from api.code.graph import service as code_graph
from api.code.index import service as code_index
from api.code.index.texts import as_chunk, embedding_text, search_fields
from api.core.config import Settings
from api.core.database import set_tenant
from api.core.schema.service import ensure_schema
from api.embeddings.factory import Embedders
from api.embeddings.protocol import Vector
from api.embeddings.texts import text_for_embedding
from api.memory.events.schemas import NewEvent
from api.ops.transfer import jsonl, repository
from api.ops.transfer.schemas import (
    FORMAT,
    VERSION,
    CodeChunkRecord,
    CodeFileRecord,
    Contents,
    EventRecord,
    ExportCounts,
    GraphRebuilt,
    Header,
    ImportReport,
    LineProblem,
    Record,
    Scan,
    SkippedRow,
    VectorSpace,
)

log = structlog.get_logger(__name__)

BATCH_SIZE = 500
T = TypeVar("T", EventRecord, CodeChunkRecord)


class TransferError(RuntimeError):
    """The export or import cannot go ahead; the message says what to do."""


class InvalidFile(TransferError):
    def __init__(self, scan: Scan) -> None:
        first = "; ".join(f"line {p.line}: {p.message}" for p in scan.problems[:3])
        super().__init__(
            f"{scan.invalid_lines} invalid line(s), nothing was imported ({first})"
            if scan.header is not None
            else f"not a MnemoLite export: {first}"
        )
        self.scan = scan


def configured_space(settings: Settings) -> VectorSpace:
    """The vector space the service's settings describe (the names its embedders report)."""
    if settings.embedding_mode == "mock":
        text_model = code_model = "mock"
    else:
        text_model = settings.embedding_model.strip()
        code_model = settings.code_embedding_model.strip()
    return VectorSpace(
        text_model=text_model, code_model=code_model, dimension=settings.embedding_dimension
    )


async def use_tenant(conn: asyncpg.Connection, name: str) -> UUID:
    """Set the connection to the tenant with this name, for every query that follows."""
    tenant_id = await repository.tenant_id_named(conn, name)
    if tenant_id is None:
        raise TransferError(
            f"no tenant is named {name!r}: create it first (POST /v1/admin/tenants with the "
            "operator key), or name another with --tenant"
        )
    await set_tenant(conn, tenant_id)
    return tenant_id


# -- export --------------------------------------------------------------------------------


async def export(
    conn: asyncpg.Connection,
    write: Callable[[str], object],
    *,
    space: VectorSpace,
    contents: Sequence[Contents] = ("events", "code"),
    repositories: Sequence[str] | None = None,
    tenant: str | None = None,
    batch_size: int = BATCH_SIZE,
    now: datetime | None = None,
) -> ExportCounts:
    """Write the header and every record of the connection's tenant as lines through `write`;
    return what was written. `tenant` is the name the header records."""
    header = Header(
        format=FORMAT,
        version=VERSION,
        exported_at=now or datetime.now(UTC),
        text_model=space.text_model,
        code_model=space.code_model,
        dimension=space.dimension,
        contents=sorted(set(contents)),
        repositories=sorted(set(repositories)) if repositories is not None else None,
        tenant=tenant,
    )
    write(jsonl.dump(header))
    counts = ExportCounts()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        if "events" in contents:
            async for event in repository.stream_events(conn, prefetch=batch_size):
                if _kept(event, counts):
                    write(jsonl.dump(event))
                    counts.events += 1
        if "code" in contents:
            # Files first: an import needs a chunk's file in place before the chunk.
            async for file in repository.stream_files(
                conn, repositories=repositories, prefetch=batch_size
            ):
                write(jsonl.dump(file))
                counts.code_files += 1
            async for chunk in repository.stream_chunks(
                conn, repositories=repositories, prefetch=batch_size
            ):
                if _kept(chunk, counts):
                    write(jsonl.dump(chunk))
                    counts.code_chunks += 1
    log.info("export_done", **counts.model_dump(exclude={"skipped_rows"}))
    return counts


def _kept(record: Record | SkippedRow, counts: ExportCounts) -> bool:
    """False for a row no import would take: it is counted, logged and left out of the file,
    so one bad row neither stops the export nor makes the whole file unimportable."""
    if not isinstance(record, SkippedRow):
        return True
    log.warning("export_row_skipped", type=record.type, id=str(record.id), reason=record.reason)
    counts.skipped += 1
    if len(counts.skipped_rows) < jsonl.MAX_PROBLEMS:
        counts.skipped_rows.append(record)
    return False


# -- import ----------------------------------------------------------------------------------


async def scan(path: Path) -> Scan:
    """The validation pass: every line checked, nothing written (see `jsonl.scan_file`)."""
    return await asyncio.to_thread(jsonl.scan_file, path)


def needs_embedders(scan: Scan, target: VectorSpace) -> bool:
    """Whether importing this file computes any vector (then the models must be loaded)."""
    if scan.header is None:
        return False
    source = scan.header.space
    if scan.events_without_embedding:
        return True
    if not source.same_text_space(target) and (scan.events or scan.code_chunks):
        return True
    return not source.same_code_space(target) and scan.code_chunks > 0


async def import_file(
    conn: asyncpg.Connection,
    path: Path,
    *,
    scan: Scan,
    target: VectorSpace,
    embedders: Embedders | None,
    text_fields: Sequence[str],
    skip_invalid: bool = False,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Write the records of a scanned file, then rebuild the graph of each repository in it."""
    if scan.header is None or (scan.invalid_lines and not skip_invalid):
        raise InvalidFile(scan)
    # The target's vectors are what gets written: the columns must hold that size.
    await ensure_schema(conn, dimension=target.dimension)
    if embedders is None and needs_embedders(scan, target):
        raise TransferError("this file needs vectors computed: pass the target's embedders")
    source = scan.header.space
    importer = _Importer(
        conn,
        embedders,
        report=ImportReport(
            reembedded_text=not source.same_text_space(target),
            reembedded_code=not source.same_code_space(target),
            invalid_lines=scan.invalid_lines,
            problems=list(scan.problems),
        ),
        text_fields=text_fields,
        skip_invalid=skip_invalid,
    )
    batches = jsonl.record_batches(path, scan.header.dimension, batch_size)
    try:
        # Reading and parsing a batch is blocking work: off the event loop.
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            await importer.write(batch)
    finally:
        batches.close()
    # Every repository of the file, not only those that got rows: a previous, interrupted run
    # of this import may have written chunks without reaching this step.
    for name in scan.repositories:
        built = await code_graph.rebuild(conn, name)
        importer.report.graphs.append(
            GraphRebuilt(repository=name, nodes=built.nodes, edges=built.edges)
        )
    report = importer.report
    log.info(
        "import_done",
        events=report.events.model_dump(),
        code_files=report.code_files.model_dump(),
        code_chunks=report.code_chunks.model_dump(),
        reembedded_text=report.reembedded_text,
        reembedded_code=report.reembedded_code,
        invalid_lines=report.invalid_lines,
    )
    return report


async def _lock_repositories(
    conn: asyncpg.Connection, records: Sequence[CodeFileRecord | CodeChunkRecord]
) -> None:
    """The locks indexing takes, in one order: an import never interleaves with an indexing
    of the same repository (and two sessions taking them sorted cannot deadlock)."""
    for name in sorted({record.repository for record in records}):
        await code_index.lock_repository(conn, name)


def _first_of_each(records: Sequence[T], skip: set[UUID]) -> list[T]:
    """Records whose id is not in `skip`, each id once (a file may repeat a line)."""
    seen = set(skip)
    kept = []
    for record in records:
        if record.id not in seen:
            seen.add(record.id)
            kept.append(record)
    return kept


class _Importer:
    """Writes batches of records; counts what it inserted and skipped into `report`."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        embedders: Embedders | None,
        *,
        report: ImportReport,
        text_fields: Sequence[str],
        skip_invalid: bool,
    ) -> None:
        self.conn = conn
        self.embedders = embedders
        self.report = report
        self.text_fields = text_fields
        self.skip_invalid = skip_invalid

    async def write(self, batch: Sequence[tuple[int, Record]]) -> None:
        # Files before chunks: a chunk is only inserted when its file is in the database.
        await self._events([(n, r) for n, r in batch if isinstance(r, EventRecord)])
        await self._files([r for _, r in batch if isinstance(r, CodeFileRecord)])
        await self._chunks([r for _, r in batch if isinstance(r, CodeChunkRecord)])

    async def _vectors(
        self,
        space: Literal["text", "code"],
        exported: Sequence[list[float] | None],
        text_of: Callable[[int], str],
        *,
        compute_missing: bool,
    ) -> tuple[list[Vector | None], int]:
        """(vectors to store, how many were computed).

        The exported vectors are kept when the file's space is the target's; otherwise, and for
        missing vectors when `compute_missing`, they are computed from the texts.
        """
        report = self.report
        reuse = not (report.reembedded_text if space == "text" else report.reembedded_code)
        vectors: list[Vector | None] = [None] * len(exported)
        wanted = []
        for index, values in enumerate(exported):
            if values is not None and reuse:
                vectors[index] = np.asarray(values, dtype=np.float32)
            elif values is not None or compute_missing:
                wanted.append(index)
        if wanted:
            assert self.embedders is not None  # import_file checked it is given when needed
            embedder = self.embedders.text if space == "text" else self.embedders.code
            computed = await embedder.embed_documents([text_of(index) for index in wanted])
            for index, vector in zip(wanted, computed, strict=True):
                vectors[index] = vector
        return vectors, len(wanted)

    async def _events(self, numbered: list[tuple[int, EventRecord]]) -> None:
        if not numbered:
            return
        records = [record for _, record in numbered]
        line_of = {record.id: line for line, record in reversed(numbered)}  # first occurrence
        existing = await repository.existing_event_ids(self.conn, [r.id for r in records])
        fresh = _first_of_each(records, existing)
        # Every event gets a vector (the API never stores one without), so missing ones are made.
        vectors, computed = await self._vectors(
            "text",
            [r.embedding for r in fresh],
            lambda i: text_for_embedding(fresh[i].content, self.text_fields),
            compute_missing=True,
        )
        self.report.embedded_events += computed
        events = [
            NewEvent(
                id=r.id,
                timestamp=r.timestamp,
                content=r.content,
                metadata=r.metadata,
                embedding=v,
                user_id=r.user_id,
                agent_id=r.agent_id,
                session_id=r.session_id,
                expires_at=r.expires_at,
                importance=r.importance,
                pinned=r.pinned,
            )
            for r, v in zip(fresh, vectors, strict=True)
            if v is not None
        ]
        refused = 0
        try:
            async with self.conn.transaction():
                inserted = await repository.insert_events(self.conn, events)
        except asyncpg.exceptions.ProgramLimitExceededError:
            inserted, refused = await self._events_one_by_one(events, line_of)
        self.report.events.inserted += inserted
        self.report.events.skipped += len(records) - inserted - refused

    async def _events_one_by_one(
        self, events: Sequence[NewEvent], line_of: dict[UUID, int]
    ) -> tuple[int, int]:
        """(inserted, refused): a batch failed on a limit the scan cannot see (the full-text
        vector of one event's text is over PostgreSQL's 1 MiB), so each event is tried alone
        to name the line."""
        inserted = refused = 0
        for event in events:
            try:
                async with self.conn.transaction():
                    inserted += await repository.insert_events(self.conn, [event])
            except asyncpg.exceptions.ProgramLimitExceededError as exc:
                line = line_of[event.id]
                message = f"the text is too large for the full-text index ({exc})"
                if not self.skip_invalid:
                    raise TransferError(
                        f"line {line}: {message}. The lines before it were imported; fix or "
                        "remove the line and run the import again (what is already imported "
                        "is skipped), or pass --skip-invalid."
                    ) from exc
                log.warning("import_line_skipped", line=line, reason=message)
                self.report.invalid_lines += 1
                if len(self.report.problems) < jsonl.MAX_PROBLEMS:
                    self.report.problems.append(LineProblem(line=line, message=message))
                refused += 1
        return inserted, refused

    async def _files(self, records: list[CodeFileRecord]) -> None:
        if not records:
            return
        async with self.conn.transaction():
            await _lock_repositories(self.conn, records)
            inserted = await repository.insert_files(self.conn, records)
        self.report.code_files.inserted += inserted
        self.report.code_files.skipped += len(records) - inserted

    async def _chunks(self, records: list[CodeChunkRecord]) -> None:
        if not records:
            return
        existing = await repository.existing_chunk_ids(self.conn, [r.id for r in records])
        locations = await repository.file_locations(self.conn, list({r.file_id for r in records}))
        fresh = []
        without_file = 0
        for record in _first_of_each(records, existing):
            if locations.get(record.file_id) == (record.repository, record.file_path):
                fresh.append(record)
            else:
                without_file += 1
        chunks = [as_chunk(r) for r in fresh]
        # A chunk indexed without embeddings keeps none.
        text_vectors, _ = await self._vectors(
            "text",
            [r.embedding_text for r in fresh],
            lambda i: embedding_text(chunks[i]),
            compute_missing=False,
        )
        code_vectors, _ = await self._vectors(
            "code",
            [r.embedding_code for r in fresh],
            lambda i: chunks[i].source,
            compute_missing=False,
        )
        new_chunks = [
            repository.NewChunk(record, text_vector, code_vector, *search_fields(chunk))
            for record, chunk, text_vector, code_vector in zip(
                fresh, chunks, text_vectors, code_vectors, strict=True
            )
        ]
        async with self.conn.transaction():
            await _lock_repositories(self.conn, fresh)
            inserted = await repository.insert_chunks(self.conn, new_chunks)
        self.report.code_chunks.inserted += inserted
        self.report.code_chunks.skipped += len(records) - inserted - without_file
        self.report.chunks_without_file += without_file
