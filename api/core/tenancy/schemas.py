"""Tenants, API keys and the principal a request acts as."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Also in migration 0011 (migrations do not import the application).
DEFAULT_TENANT_ID = UUID("00000000-0000-4000-8000-000000000001")
DEFAULT_TENANT = "default"

Role = Literal["read", "write", "admin"]
ROLE_RANK: dict[str, int] = {"read": 1, "write": 2, "admin": 3}
# The operator (API_KEY, or anyone on an open loopback service) ranks above every tenant role.
OPERATOR_RANK = 4
TenantName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Lower-case letters, digits, `-` and `_`; 1 to 63 characters.",
        examples=["acme"],
    ),
]


class TenantSettings(BaseModel):
    """A tenant's own limits; a field left out (or null) takes the service's default."""

    model_config = ConfigDict(extra="forbid")

    max_events: int | None = Field(default=None, ge=0, description="0: no limit.")
    max_code_chunks: int | None = Field(default=None, ge=0, description="0: no limit.")
    requests_per_second: float | None = Field(default=None, ge=0, description="0: no limit.")
    burst: int | None = Field(default=None, ge=0, description="0: twice the rate.")


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: TenantSettings


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a tenant, with a rank; `key_id` is None for the operator.

    `settings` are the tenant's own (read with the key), for its rate limit."""

    tenant_id: UUID
    tenant_name: str
    rank: int
    key_id: UUID | None = None
    settings: TenantSettings = field(default_factory=TenantSettings)

    @property
    def is_operator(self) -> bool:
        return self.rank >= OPERATOR_RANK

    def may(self, role: str) -> bool:
        return self.rank >= ROLE_RANK[role]


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TenantName


class TenantRead(BaseModel):
    id: UUID
    name: str
    created_at: datetime
    settings: dict[str, Any] = Field(default_factory=dict)


class TenantList(BaseModel):
    tenants: list[TenantRead]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = Field(
        description="read: list and search; write: also store and delete; "
        "admin: also manage this tenant's keys."
    )
    expires_at: datetime | None = Field(
        default=None, description="When the key stops working (ISO 8601); never by default."
    )
    label: str | None = Field(default=None, max_length=200, description="What the key is for.")

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # as everywhere in the API: no zone means UTC
            value = value.replace(tzinfo=UTC)
        if value <= datetime.now(UTC):
            raise ValueError("expires_at must be in the future")
        return value


class KeyRead(BaseModel):
    """A key as listed: never its secret."""

    id: UUID
    prefix: str
    role: Role
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(BaseModel):
    """The only response that carries the secret `key`: store it now, it cannot be shown again."""

    id: UUID
    key: str
    prefix: str
    role: Role
    label: str | None
    expires_at: datetime | None


class KeyList(BaseModel):
    keys: list[KeyRead]


@dataclass(frozen=True)
class StoredKey:
    """What the access check reads of a key."""

    id: UUID
    tenant_id: UUID
    tenant_name: str
    tenant_settings: dict[str, Any]
    role: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
