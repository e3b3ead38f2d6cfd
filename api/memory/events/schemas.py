"""Request and response shapes of the events API (field names kept from MnemoLite v1)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from api.core.json_limits import check_storable
from api.embeddings.protocol import Vector
from api.embeddings.vectors import EmbeddingInput

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


def storable_object(value: Any) -> Any:
    """Content and metadata as every writer takes them (see api/core/json_limits.py), checked before
    pydantic copies them, so a value bomb is refused after one cheap walk. What is not an object
    is left to pydantic's own error."""
    return check_storable(value) if isinstance(value, dict) else value


JsonObject = Annotated[dict[str, Any], BeforeValidator(storable_object)]
FilterMetadata = Annotated[
    dict[str, Any], AfterValidator(within_filter_depth), AfterValidator(check_storable)
]

# The scopes an event may belong to (columns of migration 0011): who it concerns, which agent
# wrote it, in which session. Each is optional and filters by exact match.
SCOPES = ("user_id", "agent_id", "session_id")


# No NUL character (PostgreSQL text holds none); with a pattern, pydantic also refuses a lone
# UTF-16 surrogate, which UTF-8 cannot hold.
ScopeId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]


class Scopes(BaseModel):
    """The three scope fields, shared by event writes, filters and search requests."""

    user_id: ScopeId | None = Field(default=None, description="The user the event concerns.")
    agent_id: ScopeId | None = Field(default=None, description="The agent that recorded it.")
    session_id: ScopeId | None = Field(default=None, description="The session it belongs to.")

    @property
    def scopes(self) -> dict[str, str]:
        """The scopes that are set, by name."""
        return {name: value for name in SCOPES if (value := getattr(self, name)) is not None}


# asyncpg writes the first and last representable instants as PostgreSQL's -infinity and
# infinity, and an instant outside years 1-9999 in UTC cannot be converted at all: both are
# refused at the door rather than stored wrong or failing later.
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
OUT_OF_RANGE = (
    "timestamps must lie strictly between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z"
)


def as_utc(value: datetime | None) -> datetime | None:
    """Timestamps without a zone are taken as UTC, so comparisons never fail."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(OUT_OF_RANGE) from None
    if not EARLIEST < in_utc < LATEST:
        raise ValueError(OUT_OF_RANGE)
    return value


def _not_none(value: Any) -> bool:
    return value is None


def _not_true(value: Any) -> bool:
    return value is not True


Importance = Annotated[float, Field(ge=0, le=1)]

# The longest time to live a write may give (ten years), so now() + ttl stays in range.
MAX_TTL_SECONDS = 10 * 365 * 24 * 3600


class EventCreate(Scopes):
    model_config = ConfigDict(extra="forbid")

    content: JsonObject = Field(description="The event itself: any JSON object.")
    metadata: JsonObject = Field(default_factory=dict, description="Filterable attributes.")
    embedding: EmbeddingInput | None = Field(
        default=None, description="Precomputed vector; computed from the content when absent."
    )
    timestamp: datetime | None = Field(default=None, description="When it happened (default now).")
    expires_at: datetime | None = Field(
        default=None,
        description="When the event expires: from then on no read returns it, and it is "
        "deleted soon after. Must be in the future.",
    )
    ttl_seconds: int | None = Field(
        default=None,
        gt=0,
        le=MAX_TTL_SECONDS,
        description="Expire this many seconds after the write (instead of expires_at).",
    )
    importance: Importance | None = Field(
        default=None, description="How much it matters, 0 to 1 (a search may weigh it)."
    )
    pinned: bool = Field(default=False, description="A search may put pinned events first.")

    _utc = field_validator("timestamp", "expires_at")(as_utc)

    @model_validator(mode="after")
    def _one_expiry(self) -> "EventCreate":
        if self.expires_at is not None and self.ttl_seconds is not None:
            raise ValueError("give expires_at or ttl_seconds, not both")
        if self.expires_at is not None and self.expires_at <= datetime.now(UTC):
            raise ValueError("expires_at must be in the future")
        return self


class EventBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventCreate] = Field(min_length=1)


class EventRead(BaseModel):
    id: UUID
    timestamp: datetime
    content: dict[str, Any]
    metadata: dict[str, Any]
    # The scopes, when the event has them (left out otherwise, as v1 responses were).
    user_id: str | None = Field(default=None, exclude_if=_not_none)
    agent_id: str | None = Field(default=None, exclude_if=_not_none)
    session_id: str | None = Field(default=None, exclude_if=_not_none)
    expires_at: datetime | None = Field(
        default=None, exclude_if=_not_none, description="When it expires (when it does)."
    )
    importance: float | None = Field(default=None, exclude_if=_not_none)
    pinned: bool = Field(default=False, exclude_if=_not_true)
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


class EventFilters(Scopes):
    """Metadata containment, a time window and exact scopes, shared by listing and search."""

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
        return (
            bool(self.metadata)
            or self.ts_start is not None
            or self.ts_end is not None
            or bool(self.scopes)
        )


@dataclass(frozen=True)
class NewEvent:
    """One event ready to insert: its vector computed, its timestamp chosen or left to now()."""

    id: UUID
    timestamp: datetime | None
    content: dict[str, Any]
    metadata: dict[str, Any]
    embedding: Vector
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    # When it expires: a time, or seconds after the write (the database's clock), or never.
    expires_at: datetime | None = None
    ttl_seconds: int | None = None
    importance: float | None = None
    pinned: bool = False


class EventPatch(BaseModel):
    """`PATCH /v1/events/{id}`: the fields given are set (importance null: none); an empty
    patch changes nothing."""

    model_config = ConfigDict(extra="forbid")

    importance: Importance | None = Field(default=None, description="0 to 1, or null: none.")
    pinned: bool | None = None


class ForgetRequest(EventFilters):
    """`POST /v1/events/forget`: the events matching these filters (at least one), deleted."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=False, description="Only count the events that match.")

    @model_validator(mode="after")
    def _some_filter(self) -> "ForgetRequest":
        if not self.active:
            raise ValueError(
                "give at least one filter (metadata, ts_start, ts_end, user_id, agent_id or "
                "session_id): forgetting every event is DELETE of the tenant, not a filter"
            )
        return self


class ForgetResult(BaseModel):
    matched: int = Field(description="Events matching the filters when the request began.")
    deleted: int = Field(description="Events deleted (0 on a dry run).")
    dry_run: bool
