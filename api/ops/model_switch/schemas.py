"""Rows the model switch reads, and what it reports."""

from typing import Any
from uuid import UUID

from pydantic import BaseModel

# A row's primary key: (tenant_id, id).
RowKey = tuple[UUID, UUID]


class EventToEmbed(BaseModel):
    tenant_id: UUID
    id: UUID
    content: dict[str, Any]

    @property
    def key(self) -> RowKey:
        return self.tenant_id, self.id


class ChunkToEmbed(BaseModel):
    tenant_id: UUID
    id: UUID
    name: str
    qualified_name: str
    kind: str
    language: str
    file_path: str
    start_line: int
    end_line: int
    source_code: str
    metadata: dict[str, Any]
    needs_text: bool
    needs_code: bool

    @property
    def key(self) -> RowKey:
        return self.tenant_id, self.id


class Remaining(BaseModel):
    """Rows whose new vector is still missing (all zero when the new columns are complete)."""

    events: int
    chunk_texts: int
    chunk_codes: int

    @property
    def total(self) -> int:
        return self.events + self.chunk_texts + self.chunk_codes


class SwitchResult(BaseModel):
    text_model: str
    code_model: str
    old_dimension: int
    dimension: int
    resumed: bool
    events: int
    chunks: int
    embedded_events: int
    embedded_chunk_texts: int
    embedded_chunk_codes: int
    seconds: float
