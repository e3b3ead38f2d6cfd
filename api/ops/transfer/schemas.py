"""The JSON Lines export format (version 1) and the reports of export and import.

A file is one header line, then one line per record, each a JSON object with a `type`:
`event`, `code_file` or `code_chunk`. Graph nodes and edges are not exported: they are derived
from the chunks and rebuilt on import. A file holds one tenant's rows; the header names it.
"""

from typing import Annotated, Literal
from uuid import UUID

import numpy as np
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from api.code.index.schemas import FilePath, Repository
from api.memory.events.schemas import JsonObject, ScopeId

FORMAT = "mnemolite"
VERSION = 1

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# An event's scope (user, agent, session), checked as the API checks it. Written only when set,
# so a file without scopes reads as before tenancy.
ScopeValue = Annotated[ScopeId | None, Field(default=None, exclude_if=lambda value: value is None)]


def storable_vector(values: list[float]) -> list[float]:
    """The API's checks of a vector: what it refuses would fail the insert (pgvector stores
    float32 and refuses the infinity a larger value becomes) and stop the import half-way."""
    with np.errstate(over="ignore"):  # overflow to inf is what is looked for
        vector = np.asarray(values, dtype=np.float32)
    if not np.isfinite(vector).all():
        raise ValueError("contains a value too large for float32")
    if not vector.any():
        raise ValueError("is all zeros; cosine distance is undefined for it")
    return values


Embedding = Annotated[
    list[FiniteFloat], Field(min_length=1, max_length=16_000), AfterValidator(storable_vector)
]
Contents = Literal["events", "code"]
ALL_CONTENTS: list[Contents] = ["events", "code"]


class VectorSpace(BaseModel):
    """Which models made a set of vectors, and their size: vectors of two spaces never mix."""

    model_config = ConfigDict(frozen=True)

    text_model: str = Field(min_length=1)
    code_model: str = Field(min_length=1)
    dimension: int = Field(gt=0, le=16_000)

    def same_text_space(self, other: "VectorSpace") -> bool:
        return self.text_model == other.text_model and self.dimension == other.dimension

    def same_code_space(self, other: "VectorSpace") -> bool:
        return self.code_model == other.code_model and self.dimension == other.dimension


class Header(BaseModel):
    """The first line: what the file holds and which vector space its embeddings belong to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["mnemolite"]
    version: Literal[1]
    exported_at: AwareDatetime
    text_model: str = Field(min_length=1)
    code_model: str = Field(min_length=1)
    dimension: int = Field(gt=0, le=16_000)
    contents: list[Contents] = Field(default_factory=lambda: list(ALL_CONTENTS))
    repositories: list[str] | None = Field(
        default=None, description="The code repositories exported; None: all of them."
    )
    tenant: str | None = Field(
        default=None,
        max_length=63,
        description="The tenant exported (informative: an import goes into the tenant it is "
        "told to); None in files from before tenancy.",
    )

    @property
    def space(self) -> VectorSpace:
        return VectorSpace(
            text_model=self.text_model, code_model=self.code_model, dimension=self.dimension
        )


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventRecord(_Record):
    type: Literal["event"] = "event"
    id: UUID
    timestamp: AwareDatetime
    # The API's own checks (api/core/json_limits.py): a line it would refuse is reported by
    # the scan.
    content: JsonObject
    metadata: JsonObject = Field(default_factory=dict)
    embedding: Embedding | None = None
    user_id: ScopeValue = None
    agent_id: ScopeValue = None
    session_id: ScopeValue = None
    # An expiring event keeps its time (an import after it has passed stores an event no
    # read shows, which the purge then deletes).
    expires_at: AwareDatetime | None = None
    importance: float | None = Field(default=None, ge=0, le=1)
    pinned: bool = False


class CodeFileRecord(_Record):
    type: Literal["code_file"] = "code_file"
    id: UUID
    repository: Repository
    path: FilePath
    language: str = Field(min_length=1, max_length=40)
    content_hash: str = Field(min_length=1, max_length=200)
    size_bytes: int = Field(ge=0)
    commit_hash: str | None = Field(default=None, max_length=100)
    indexed_at: AwareDatetime


class CodeChunkRecord(_Record):
    type: Literal["code_chunk"] = "code_chunk"
    id: UUID
    file_id: UUID
    repository: Repository
    file_path: FilePath
    language: str = Field(min_length=1, max_length=40)
    kind: str = Field(min_length=1, max_length=40)
    name: str
    qualified_name: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    source_code: str
    metadata: JsonObject = Field(default_factory=dict)
    embedding_text: Embedding | None = None
    embedding_code: Embedding | None = None

    @model_validator(mode="after")
    def _lines_in_order(self) -> "CodeChunkRecord":
        if self.end_line < self.start_line:
            raise ValueError(f"end_line {self.end_line} is before start_line {self.start_line}")
        return self


Record = Annotated[EventRecord | CodeFileRecord | CodeChunkRecord, Field(discriminator="type")]


class SkippedRow(BaseModel):
    """A stored row the export leaves out, because an import (or the API) would refuse it."""

    type: Literal["event", "code_chunk"]
    id: UUID
    reason: str


class ExportCounts(BaseModel):
    events: int = 0
    code_files: int = 0
    code_chunks: int = 0
    skipped: int = Field(
        default=0,
        description="Rows left out: written by SQL or an older version beyond the limits every "
        "writer enforces (api/core/json_limits.py), so no import would take them.",
    )
    skipped_rows: list[SkippedRow] = Field(
        default_factory=list, description="The first of them (at most MAX_PROBLEMS), with why."
    )


class LineProblem(BaseModel):
    line: int = Field(description="1-based line number in the file (the header is line 1).")
    message: str


class Scan(BaseModel):
    """What the validation pass learned about a file, before anything is written."""

    header: Header | None
    lines: int = 0
    events: int = 0
    code_files: int = 0
    code_chunks: int = 0
    events_without_embedding: int = 0
    repositories: list[str] = Field(default_factory=list)
    invalid_lines: int = 0
    problems: list[LineProblem] = Field(
        default_factory=list, description="The first problems found (at most MAX_PROBLEMS)."
    )

    @property
    def valid(self) -> bool:
        return self.header is not None and self.invalid_lines == 0


class Outcome(BaseModel):
    inserted: int = 0
    skipped: int = Field(default=0, description="Already in the database (same id): kept as is.")


class GraphRebuilt(BaseModel):
    repository: str
    nodes: int
    edges: int


class ImportReport(BaseModel):
    events: Outcome = Field(default_factory=Outcome)
    code_files: Outcome = Field(default_factory=Outcome)
    code_chunks: Outcome = Field(default_factory=Outcome)
    chunks_without_file: int = Field(
        default=0,
        description="Chunks skipped because their file is not in the database under the same "
        "id, repository and path (the target indexes that path itself, or the file line is "
        "missing).",
    )
    reembedded_text: bool = Field(description="Text vectors recomputed with the target's model.")
    reembedded_code: bool = Field(description="Code vectors recomputed with the target's model.")
    embedded_events: int = Field(default=0, description="Event vectors computed on import.")
    invalid_lines: int = 0
    problems: list[LineProblem] = Field(default_factory=list)
    graphs: list[GraphRebuilt] = Field(default_factory=list)
