"""Per-tenant quotas: a token bucket for request rate, and room checks for stored rows.

The buckets live in each process (a service with several workers allows each its rate): they
need no database round trip per request. Storage quotas count the tenant's rows when a write
would add some, and only when a limit is set."""

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from api.core.config import Settings
from api.core.errors import AppError
from api.core.tenancy import repository
from api.core.tenancy.schemas import Principal, TenantSettings

# Buckets kept at most: the least recently seen tenant's is forgotten first (it refills anyway).
MAX_BUCKETS = 100_000
QUOTA_RETRY_AFTER_SECONDS = 60


class QuotaExceeded(AppError):
    status_code = 429
    error = "quota_exceeded"

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = max(1, math.ceil(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Requests per second per tenant, for tenant keys (the operator is not limited)."""

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.buckets: OrderedDict[UUID, Bucket] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> "RateLimiter":
        return cls(rate=settings.tenant_requests_per_second, burst=settings.tenant_request_burst)

    def refusal(self, principal: Principal, now: float | None = None) -> QuotaExceeded | None:
        """None when the request may go; else the 429 naming the limit and when to retry."""
        if principal.key_id is None:
            return None
        own = principal.settings
        rate = self.rate if own.requests_per_second is None else own.requests_per_second
        if rate <= 0:
            return None
        burst = self.burst if own.burst is None else own.burst
        capacity = float(burst or max(1, math.ceil(2 * rate)))
        now = time.monotonic() if now is None else now
        bucket = self.buckets.pop(principal.tenant_id, None) or Bucket(capacity, now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        self.buckets[principal.tenant_id] = bucket
        while len(self.buckets) > MAX_BUCKETS:
            self.buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return QuotaExceeded(
            f"Tenant {principal.tenant_name!r} sends more than its {rate:g} requests per second "
            "(requests_per_second; TENANT_REQUESTS_PER_SECOND by default): retry later.",
            retry_after=(1 - bucket.tokens) / rate,
        )


TABLES = {"events": "events", "code_chunks": "code_chunks"}


async def ensure_room(
    conn: asyncpg.Connection,
    kind: Literal["events", "code_chunks"],
    adding: int,
    *,
    default_limit: int,
) -> None:
    """Refuse (429) a write that would take the connection's tenant past its quota of `kind`.

    `default_limit` is the service's (TENANT_MAX_EVENTS or TENANT_MAX_CODE_CHUNKS); the
    tenant's own setting overrides it. A soft limit: writes running at the same moment are
    counted before either commits, so together they may pass it by one request's rows."""
    if adding <= 0:
        return
    limit = await _limit(conn, kind, default_limit)
    if limit <= 0:
        return
    held = await repository.count_rows(conn, TABLES[kind])
    if held + adding > limit:
        setting = "max_events" if kind == "events" else "max_code_chunks"
        raise QuotaExceeded(
            f"This tenant holds {held:,} {kind.replace('_', ' ')} and may hold {limit:,} "
            f"({setting}): {adding:,} more would exceed it. Delete some, or ask the operator "
            "to raise the limit.",
            retry_after=QUOTA_RETRY_AFTER_SECONDS,
        )


async def ensure_within(
    conn: asyncpg.Connection, kind: Literal["events", "code_chunks"], *, default_limit: int
) -> None:
    """After a write, inside its transaction: refuse (429) if the tenant is now over its quota.

    For writes that replace rows as they add them (re-indexing a file), where only the count
    afterwards says whether the quota holds; the caller's transaction is then rolled back."""
    limit = await _limit(conn, kind, default_limit)
    if limit <= 0:
        return
    held = await repository.count_rows(conn, TABLES[kind])
    if held > limit:
        setting = "max_events" if kind == "events" else "max_code_chunks"
        raise QuotaExceeded(
            f"This request would leave the tenant with {held:,} {kind.replace('_', ' ')}; it "
            f"may hold {limit:,} ({setting}). Nothing was written. Index less, delete a "
            "repository, or ask the operator to raise the limit.",
            retry_after=QUOTA_RETRY_AFTER_SECONDS,
        )


async def _limit(conn: asyncpg.Connection, kind: str, default_limit: int) -> int:
    try:
        own = TenantSettings.model_validate(await repository.settings_of(conn))
    except ValidationError:  # settings edited by hand into nonsense: the defaults hold
        own = TenantSettings()
    override = own.max_events if kind == "events" else own.max_code_chunks
    return default_limit if override is None else override
