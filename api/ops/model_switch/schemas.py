"""Rows the model switch reads, and what it reports."""

from typing import Any
from uuid import UUID

from pydantic import BaseModel


class EventToEmbed(BaseModel):
    id: UUID
    content: dict[str, Any]


class ChunkToEmbed(BaseModel):
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
