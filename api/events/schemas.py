"""Request and response shapes of the events API (field names kept from MnemoLite v1)."""

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
EmbeddingInput = Annotated[list[FiniteFloat], Field(min_length=1, max_length=16_000)]
# Real metadata is a few levels deep; a filter far deeper only costs the server (JSON parsing,
# containment checks) and could reach PostgreSQL's stack depth limit.
MAX_FILTER_DEPTH = 32


def within_filter_depth(value: dict[str, Any]) -> dict[str, Any]:
    """Refuse a filter nested deeper than MAX_FILTER_DEPTH (iteratively: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_FILTER_DEPTH:
            raise ValueError(f"the metadata filter is nested deeper than {MAX_FILTER_DEPTH} levels")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return value


# A surrogate half on its own is not a character: UTF-8 and jsonb cannot hold it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_json(value: dict[str, Any]) -> dict[str, Any]:
    """Refuse what a jsonb column cannot hold and PostgreSQL would answer with a 500: NaN and
    Infinity (also 1e400, which parses as Infinity) and lone UTF-16 surrogates such as
    "\\ud800", in keys or values. Walked iteratively: no recursion limit."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite (JSON has no NaN or Infinity; 1e400 is one)")
        if isinstance(item, str) and LONE_SURROGATE.search(item):
            raise ValueError("strings must not contain a lone UTF-16 surrogate such as \\ud800")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(storable_json)]
FilterMetadata = Annotated[
    dict[str, Any], AfterValidator(within_filter_depth), AfterValidator(storable_json)
]


def as_utc(value: datetime | None) -> datetime | None:
    """Timestamps without a zone are taken as UTC, so comparisons never fail."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _not_none(value: Any) -> bool:
    return value is None


class EventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: JsonObject = Field(description="The event itself: any JSON object.")
    metadata: JsonObject = Field(default_factory=dict, description="Filterable attributes.")
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

    metadata: FilterMetadata | None = None
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
