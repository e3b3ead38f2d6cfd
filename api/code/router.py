"""HTTP routes of the code index (paths of MnemoLite v1).

They live above the index and graph domains because `POST /v1/code/index` runs the pipeline
that composes both (index the files, then rebuild the graph, in one transaction)."""

from fastapi import APIRouter, status

from api.code import pipeline
from api.code.index import service
from api.code.index.dependencies import ParserDep
from api.code.index.schemas import IndexRequest, IndexResult, RepositoryDeleted, RepositoryList
from api.core.database import Conn, DatabaseDep, ReadConn
from api.core.dependencies import SettingsDep
from api.embeddings.dependencies import EmbeddersDep

router = APIRouter(prefix="/v1/code/index", tags=["code"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=IndexResult)
async def index_files(
    request: IndexRequest,
    database: DatabaseDep,
    embedders: EmbeddersDep,
    parser: ParserDep,
    settings: SettingsDep,
) -> IndexResult:
    """Index a set of files of a repository (unchanged files are skipped by content hash)."""
    return await pipeline.index_files(
        database.connection,
        embedders,
        request,
        parser=parser,
        max_files=settings.code_index_max_files,
        max_file_bytes=settings.code_index_max_file_bytes,
        max_code_chunks=settings.tenant_max_code_chunks,
    )


@router.get("/repositories", response_model=RepositoryList)
async def list_repositories(conn: ReadConn) -> RepositoryList:
    """Indexed repositories with their file and chunk counts."""
    return await service.list_repositories(conn)


@router.delete("/repositories/{repository:path}", response_model=RepositoryDeleted)
async def delete_repository(repository: str, conn: Conn) -> RepositoryDeleted:
    """Delete a repository's files and chunks."""
    return await service.delete_repository(conn, repository)
