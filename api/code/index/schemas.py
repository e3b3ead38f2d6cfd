"""Request and response shapes of the code index API (field names of MnemoLite v1)."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Repository = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00/][^\x00]*$")
]
FilePath = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"^[^\x00]+$")]


class FileInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: FilePath
    content: str = Field(description="The file's text.")
    language: str | None = Field(default=None, max_length=40, description="Default: by extension.")


class IndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repository: Repository
    files: list[FileInput] = Field(min_length=1)
    commit_hash: str | None = Field(default=None, max_length=100)
    extract_metadata: bool = True
    generate_embeddings: bool = True
    build_graph: bool = True
    full_snapshot: bool = Field(
        default=False,
        description="The files are the whole repository: files absent from it are removed.",
    )


class FileError(BaseModel):
    file: str
    error: str


class IndexResult(BaseModel):
    repository: str
    indexed_files: int
    indexed_chunks: int
    indexed_nodes: int = 0
    indexed_edges: int = 0
    unchanged_files: int = Field(description="Skipped: same content hash as already indexed.")
    skipped_files: list[FileError] = Field(description="Not indexed, with the reason.")
    removed_files: int = Field(description="Absent from a full snapshot, so removed.")
    failed_files: int
    processing_time_ms: float
    errors: list[FileError]


class RepositorySummary(BaseModel):
    repository: str
    file_count: int
    chunk_count: int
    last_indexed: datetime | None


class RepositoryDetail(RepositorySummary):
    languages: dict[str, int] = Field(description="Chunks per language, most first.")


class RepositoryList(BaseModel):
    repositories: list[RepositorySummary]


class RepositoryDeleted(BaseModel):
    repository: str
    deleted_files: int
    deleted_chunks: int


class ChunkRead(BaseModel):
    id: UUID
    repository: str
    file_path: str
    language: str
    kind: str
    name: str
    qualified_name: str
    start_line: int
    end_line: int
    source_code: str
    metadata: dict[str, Any]
