"""Request and response shapes of the events API (field names kept from MnemoLite v1)."""

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
EmbeddingInput = Annotated[list[FiniteFloat], Field(min_length=1, max_length=16_000)]


def as_utc(value: datetime | None) -> datetime | None:
    """Timestamps without a zone are taken as UTC, so comparisons never fail."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _not_none(value: Any) -> bool:
    return value is None


class EventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: dict[str, Any] = Field(description="The event itself: any JSON object.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Filterable attributes.")
    embedding: EmbeddingInput | None = Field(
        default=None, description="Precomputed vector; computed from the content when absent."
    )
    timestamp: datetime | None = Field(default=None, description="When it happened (default now).")

    _utc = field_validator("timestamp")(as_utc)


class EventBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventCreate] = Field(min_length=1)


class EventRead(BaseModel):
    id: UUID
    timestamp: datetime
    content: dict[str, Any]
    metadata: dict[str, Any]
    embedding: list[float] | None = Field(default=None, exclude_if=_not_none)
    similarity_score: float | None = Field(
        default=None,
        exclude_if=_not_none,
        description="Cosine similarity to the query (1 - distance); higher is closer.",
    )
    distance: float | None = Field(
        default=None, exclude_if=_not_none, description="Cosine distance to the query, 0..2."
    )


class EventBatchRead(BaseModel):
    events: list[EventRead]


class PageMeta(BaseModel):
    limit: int
    offset: int
    count: int = Field(description="Items in this page.")
    has_more: bool = Field(description="Whether a further page exists.")


class EventPage(BaseModel):
    data: list[EventRead]
    meta: PageMeta


class ActivityBucket(BaseModel):
    start: datetime
    events: int


class Activity(BaseModel):
    """Events per bucket over the last `days` days (UTC), oldest bucket first, zeros included."""

    days: int
    bucket_days: int
    total: int
    buckets: list[ActivityBucket]


class EventFilters(BaseModel):
    """Metadata containment and a time window, shared by listing and search."""

    metadata: dict[str, Any] | None = None
    ts_start: datetime | None = None
    ts_end: datetime | None = None

    _utc = field_validator("ts_start", "ts_end")(as_utc)

    @model_validator(mode="after")
    def _ordered(self) -> "EventFilters":
        if self.ts_start and self.ts_end and self.ts_start > self.ts_end:
            raise ValueError("ts_start must not be later than ts_end")
        return self

    @property
    def active(self) -> bool:
        return bool(self.metadata) or self.ts_start is not None or self.ts_end is not None
