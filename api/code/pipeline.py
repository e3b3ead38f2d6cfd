"""Indexing a request end to end: its files into the index, then, when asked, the graph.

Above both `api.code.index` and `api.code.graph`: the graph is built from the index's chunks,
so the index knows nothing of it, and this module hands the rebuild to the index's write
transaction (chunks and graph commit together, under the repository's lock).
"""

import asyncpg

from api.code.graph import service as code_graph
from api.code.index import service as code_index
from api.code.index.chunking import MAX_FILE_BYTES
from api.code.index.parsing import ParsePool
from api.code.index.schemas import IndexRequest, IndexResult
from api.embeddings.factory import Embedders


async def index_files(
    connect: code_index.Connect,
    embedders: Embedders,
    request: IndexRequest,
    *,
    parser: ParsePool,
    max_files: int,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_code_chunks: int = 0,
) -> IndexResult:
    """Index the request's files; rebuild the repository's graph with them if it asks to."""

    async def rebuild_graph(conn: asyncpg.Connection) -> tuple[int, int]:
        built = await code_graph.rebuild(conn, request.repository)
        return built.nodes, built.edges

    return await code_index.index_files(
        connect,
        embedders,
        request,
        parser=parser,
        max_files=max_files,
        max_file_bytes=max_file_bytes,
        max_code_chunks=max_code_chunks,
        after_write=rebuild_graph if request.build_graph else None,
    )
