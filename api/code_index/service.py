"""Index a request-sized set of files: incremental (content hash), atomic per request."""

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from api.code_graph import service as code_graph
from api.code_index import repository
from api.code_index.chunking import Chunk, Skipped, chunk_file
from api.code_index.languages import language_for
from api.code_index.schemas import (
    ChunkRead,
    FileError,
    FileInput,
    IndexRequest,
    IndexResult,
    RepositoryDeleted,
    RepositoryList,
)
from api.code_index.texts import embedding_text, search_fields
from api.embeddings.factory import Embedders
from api.errors import InvalidInput, NotFound, PayloadTooLarge


class RepositoryNotFound(NotFound):
    error = "repository_not_found"


class ChunkNotFound(NotFound):
    error = "chunk_not_found"


@dataclass
class _Parsed:
    file: FileInput
    content_hash: str
    chunks: list[Chunk]


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8", errors="surrogatepass")).hexdigest()


async def index_files(
    conn: asyncpg.Connection, embedders: Embedders, request: IndexRequest, *, max_files: int
) -> IndexResult:
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
    stored = await repository.stored_hashes(conn, request.repository, paths)
    changed = [file for file in request.files if stored.get(file.path) != hashes[file.path]]

    # Parsing is CPU-bound: off the event loop.
    outcomes = await asyncio.to_thread(_parse_all, changed, hashes)
    parsed = [outcome for outcome in outcomes if isinstance(outcome, _Parsed)]
    skipped = [
        FileError(file=o.file_path, error=o.reason) for o in outcomes if isinstance(o, Skipped)
    ]
    errors = [o for o in outcomes if isinstance(o, FileError)]
    if not request.extract_metadata:
        for item in parsed:
            for chunk in item.chunks:
                chunk.metadata = {}

    all_chunks = [chunk for item in parsed for chunk in item.chunks]
    text_vectors, code_vectors = await _embed(embedders, all_chunks, request.generate_embeddings)

    position = 0
    async with conn.transaction():
        for item in parsed:
            count = len(item.chunks)
            new_chunks = [
                repository.NewChunk(
                    chunk,
                    text_vectors[position + i] if text_vectors is not None else None,
                    code_vectors[position + i] if code_vectors is not None else None,
                    *search_fields(chunk),
                )
                for i, chunk in enumerate(item.chunks)
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
        await repository.delete_files(conn, request.repository, [s.file for s in skipped])
        removed = 0
        if request.full_snapshot:
            removed = await repository.delete_files_except(conn, request.repository, paths)
        nodes = edges = 0
        if request.build_graph:
            built = await code_graph.rebuild(conn, request.repository)
            nodes, edges = built.nodes, built.edges

    return IndexResult(
        repository=request.repository,
        indexed_files=len(parsed),
        indexed_chunks=len(all_chunks),
        indexed_nodes=nodes,
        indexed_edges=edges,
        unchanged_files=len(request.files) - len(changed),
        skipped_files=skipped,
        removed_files=removed,
        failed_files=len(errors),
        processing_time_ms=round((time.perf_counter() - started) * 1000, 1),
        errors=errors,
    )


def _parse_all(
    files: Sequence[FileInput], hashes: dict[str, str]
) -> list[_Parsed | Skipped | FileError]:
    outcomes: list[_Parsed | Skipped | FileError] = []
    for file in files:
        try:
            result = chunk_file(file.path, file.content, language=file.language)
        except Exception as exc:  # a parser failure is this file's problem, not the request's
            outcomes.append(FileError(file=file.path, error=f"could not parse: {exc}"))
            continue
        if isinstance(result, Skipped):
            outcomes.append(result)
        else:
            outcomes.append(_Parsed(file, hashes[file.path], result))
    return outcomes


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


async def remove_absent(conn: asyncpg.Connection, name: str, paths: Sequence[str]) -> int:
    """Remove a repository's files that are not in `paths` (the end of a full snapshot)."""
    async with conn.transaction():
        return await repository.delete_files_except(conn, name, paths)


async def list_repositories(conn: asyncpg.Connection) -> RepositoryList:
    return RepositoryList(repositories=await repository.list_repositories(conn))


async def delete_repository(conn: asyncpg.Connection, name: str) -> RepositoryDeleted:
    async with conn.transaction():
        files, chunks = await repository.delete_repository(conn, name)
    if files == 0:
        raise RepositoryNotFound(f"No indexed repository named {name!r}.")
    return RepositoryDeleted(repository=name, deleted_files=files, deleted_chunks=chunks)


async def get_chunk(conn: asyncpg.Connection, chunk_id: UUID) -> ChunkRead:
    chunk = await repository.get_chunk(conn, chunk_id)
    if chunk is None:
        raise ChunkNotFound(f"No code chunk with id {chunk_id}.")
    return chunk
