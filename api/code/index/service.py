"""Index a request-sized set of files: incremental (content hash), atomic per request.

Parsing and embedding hold no database connection: `connect` lends one for the read of the
stored hashes, then again for the short write transaction.
"""

import hashlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from api.code.index import repository
from api.code.index.chunking import MAX_FILE_BYTES, Chunk, Skipped
from api.code.index.languages import language_for
from api.code.index.parsing import Outcome, ParsedFile, ParseFailure, ParsePool, ParseTask
from api.code.index.schemas import (
    ChunkRead,
    FileError,
    FileInput,
    IndexRequest,
    IndexResult,
    RepositoryDeleted,
    RepositoryDetail,
    RepositoryList,
)
from api.code.index.texts import embedding_text
from api.core.errors import InvalidInput, NotFound, PayloadTooLarge
from api.core.tenancy import limits
from api.embeddings.factory import Embedders


class RepositoryNotFound(NotFound):
    error = "repository_not_found"


class ChunkNotFound(NotFound):
    error = "chunk_not_found"


@dataclass
class _Parsed:
    file: FileInput
    content_hash: str
    chunks: list[Chunk]
    fields: list[tuple[str, str, str]]  # each chunk's search words


@dataclass
class _Plan:
    """What a request will write: its changed files parsed, their chunks embedded."""

    changed: list[FileInput]
    parsed: list[_Parsed]
    skipped: list[FileError]
    errors: list[FileError]
    chunks: list[Chunk]
    text_vectors: list | None
    code_vectors: list | None


@dataclass
class _Written:
    nodes: int = 0
    edges: int = 0
    removed: int = 0


# Tries to prepare a request outside the repository's lock before preparing under it.
OPTIMISTIC_ATTEMPTS = 3

# Lends a connection for one step (`Database.connection`, `pool.acquire`).
Connect = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]
# Runs inside the write transaction, under the lock, after the files are stored: how the
# layer above rebuilds the graph atomically with the chunks; returns (nodes, edges).
AfterWrite = Callable[[asyncpg.Connection], Awaitable[tuple[int, int]]]


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8", errors="surrogatepass")).hexdigest()


async def index_files(
    connect: Connect,
    embedders: Embedders,
    request: IndexRequest,
    *,
    parser: ParsePool,
    max_files: int,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_code_chunks: int = 0,
    after_write: AfterWrite | None = None,
) -> IndexResult:
    """Parsing runs in `parser`'s processes, each file within its time limit: a file that
    cannot be parsed in time is reported in `errors`, and no file can hold up other requests.

    `max_code_chunks` is the service's default quota (TENANT_MAX_CODE_CHUNKS): a write that
    leaves the tenant above its quota is undone (429)."""
    started = time.perf_counter()
    if len(request.files) > max_files:
        raise PayloadTooLarge(
            f"At most {max_files} files per request (CODE_INDEX_MAX_FILES); got "
            f"{len(request.files)}. Send the rest in further requests."
        )
    paths = [file.path for file in request.files]
    duplicates = sorted(path for path, seen in Counter(paths).items() if seen > 1)
    if duplicates:
        raise InvalidInput(f"Each path may appear once per request; repeated: {duplicates[:5]}")

    hashes = {file.path: content_hash(file.content) for file in request.files}
    # A file is parsed once per request, however many attempts it takes to write it.
    parsing = _Parsing(parser, max_file_bytes, request.extract_metadata)
    written: _Written | None = None
    for _ in range(OPTIMISTIC_ATTEMPTS):
        async with connect() as conn:
            stored = await repository.stored_hashes(conn, request.repository, list(hashes))
        plan = await _prepare(embedders, parsing, request, hashes, stored)
        async with connect() as conn:
            written = await _write_if_current(
                conn, request, plan, hashes, after_write, max_code_chunks
            )
        if written is not None:
            break
    else:
        # Other writers kept changing files this request had found unchanged: prepare under
        # the lock this time. Slow work inside a transaction, but it cannot be overtaken.
        async with connect() as conn, conn.transaction():
            await repository.lock_repository(conn, request.repository)
            stored = await repository.stored_hashes(conn, request.repository, list(hashes))
            plan = await _prepare(embedders, parsing, request, hashes, stored)
            written = await _write(conn, request, plan, after_write, max_code_chunks)

    return IndexResult(
        repository=request.repository,
        indexed_files=len(plan.parsed),
        indexed_chunks=len(plan.chunks),
        indexed_nodes=written.nodes,
        indexed_edges=written.edges,
        unchanged_files=len(request.files) - len(plan.changed),
        skipped_files=plan.skipped,
        removed_files=written.removed,
        failed_files=len(plan.errors),
        processing_time_ms=round((time.perf_counter() - started) * 1000, 1),
        errors=plan.errors,
    )


class _Parsing:
    """The request's files parsed in the pool, each once."""

    def __init__(self, parser: ParsePool, max_file_bytes: int, extract_metadata: bool) -> None:
        self.parser = parser
        self.max_file_bytes = max_file_bytes
        self.extract_metadata = extract_metadata
        self.done: dict[str, Outcome] = {}

    async def outcomes(self, files: Sequence[FileInput]) -> list[Outcome]:
        todo = [file for file in files if file.path not in self.done]
        tasks = [
            ParseTask(
                path=file.path,
                content=file.content,
                language=file.language,
                max_bytes=self.max_file_bytes,
                extract_metadata=self.extract_metadata,
            )
            for file in todo
        ]
        for file, outcome in zip(todo, await self.parser.parse(tasks), strict=True):
            self.done[file.path] = outcome
        return [self.done[file.path] for file in files]


async def _prepare(
    embedders: Embedders,
    parsing: _Parsing,
    request: IndexRequest,
    hashes: dict[str, str],
    stored: dict[str, str],
) -> _Plan:
    """Parse and embed the files whose `stored` hash differs (no connection needed: the slow
    part)."""
    changed = [file for file in request.files if stored.get(file.path) != hashes[file.path]]

    parsed: list[_Parsed] = []
    skipped: list[FileError] = []
    errors: list[FileError] = []
    for file, outcome in zip(changed, await parsing.outcomes(changed), strict=True):
        if isinstance(outcome, ParsedFile):
            parsed.append(_Parsed(file, hashes[file.path], outcome.chunks, outcome.fields))
        elif isinstance(outcome, Skipped):
            skipped.append(FileError(file=outcome.file_path, error=outcome.reason))
        elif isinstance(outcome, ParseFailure):
            errors.append(FileError(file=outcome.file_path, error=outcome.error))

    chunks = [chunk for item in parsed for chunk in item.chunks]
    text_vectors, code_vectors = await _embed(embedders, chunks, request.generate_embeddings)
    return _Plan(changed, parsed, skipped, errors, chunks, text_vectors, code_vectors)


async def _write_if_current(
    conn: asyncpg.Connection,
    request: IndexRequest,
    plan: _Plan,
    hashes: dict[str, str],
    after_write: AfterWrite | None,
    max_code_chunks: int,
) -> _Written | None:
    """Write the plan under the repository's lock, unless a file it left alone has changed.

    Two requests for one repository thus commit one after the other, each as a whole: a
    file found unchanged before the lock but rewritten by another request since would
    otherwise keep the other request's content next to this request's other files.
    """
    changed = {file.path for file in plan.changed}
    unchanged = [path for path in hashes if path not in changed]
    async with conn.transaction():
        await repository.lock_repository(conn, request.repository)
        if unchanged:
            now = await repository.stored_hashes(conn, request.repository, unchanged)
            if any(now.get(path) != hashes[path] for path in unchanged):
                return None
        return await _write(conn, request, plan, after_write, max_code_chunks)


async def _write(
    conn: asyncpg.Connection,
    request: IndexRequest,
    plan: _Plan,
    after_write: AfterWrite | None,
    max_code_chunks: int,
) -> _Written:
    """Store the plan (call inside a transaction holding the repository's lock)."""
    position = 0
    for item in plan.parsed:
        count = len(item.chunks)
        new_chunks = [
            repository.NewChunk(
                chunk,
                plan.text_vectors[position + i] if plan.text_vectors is not None else None,
                plan.code_vectors[position + i] if plan.code_vectors is not None else None,
                *fields,
            )
            for i, (chunk, fields) in enumerate(zip(item.chunks, item.fields, strict=True))
        ]
        position += count
        spec = language_for(item.file.path, item.file.language)
        stored_file = repository.StoredFile(
            path=item.file.path,
            language=spec.name if spec else (item.file.language or "text"),
            content_hash=item.content_hash,
            size_bytes=len(item.file.content.encode("utf-8", errors="surrogatepass")),
        )
        await repository.replace_file(
            conn,
            repository=request.repository,
            file=stored_file,
            commit_hash=request.commit_hash,
            chunks=new_chunks,
        )
    # A file that became unindexable (binary, generated) must not keep its old chunks.
    await repository.delete_files(conn, request.repository, [s.file for s in plan.skipped])
    written = _Written()
    if request.full_snapshot:
        written.removed = await repository.delete_files_except(
            conn, request.repository, [file.path for file in request.files]
        )
    # Counted after the write, replaced chunks gone: the transaction is undone if it is over.
    await limits.ensure_within(conn, "code_chunks", default_limit=max_code_chunks)
    if after_write is not None:
        written.nodes, written.edges = await after_write(conn)
    return written


async def _embed(
    embedders: Embedders, chunks: Sequence[Chunk], enabled: bool
) -> tuple[list | None, list | None]:
    if not enabled or not chunks:
        return None, None
    texts = [embedding_text(chunk) for chunk in chunks]
    sources = [chunk.source for chunk in chunks]
    text_vectors = await embedders.text.embed_documents(texts)
    code_vectors = await embedders.code.embed_documents(sources)
    return list(text_vectors), list(code_vectors)


async def lock_repository(conn: asyncpg.Connection, name: str) -> None:
    """Hold the repository's index write lock until the caller's transaction ends (what a
    writer of data derived from the chunks takes, so no index write comes in between)."""
    await repository.lock_repository(conn, name)


async def remove_absent(conn: asyncpg.Connection, name: str, paths: Sequence[str]) -> int:
    """Remove a repository's files that are not in `paths` (the end of a full snapshot)."""
    async with conn.transaction():
        await repository.lock_repository(conn, name)
        return await repository.delete_files_except(conn, name, paths)


async def list_repositories(conn: asyncpg.Connection) -> RepositoryList:
    return RepositoryList(repositories=await repository.list_repositories(conn))


async def get_repository(conn: asyncpg.Connection, name: str) -> RepositoryDetail:
    summary = await repository.get_repository(conn, name)
    if summary is None:
        raise RepositoryNotFound(f"No indexed repository named {name!r}.")
    languages = await repository.chunks_by_language(conn, name)
    return RepositoryDetail(**summary.model_dump(), languages=languages)


async def delete_repository(conn: asyncpg.Connection, name: str) -> RepositoryDeleted:
    async with conn.transaction():
        await repository.lock_repository(conn, name)
        files, chunks = await repository.delete_repository(conn, name)
    if files == 0:
        raise RepositoryNotFound(f"No indexed repository named {name!r}.")
    return RepositoryDeleted(repository=name, deleted_files=files, deleted_chunks=chunks)


async def get_chunk(conn: asyncpg.Connection, chunk_id: UUID) -> ChunkRead:
    chunk = await repository.get_chunk(conn, chunk_id)
    if chunk is None:
        raise ChunkNotFound(f"No code chunk with id {chunk_id}.")
    return chunk
