"""What the lexical domain hands out."""

from uuid import UUID

from pydantic import BaseModel


class TenantIndex(BaseModel):
    """A tenant's own BM25 index: `valid` False while it is built or after a build failed."""

    name: str
    table: str
    tenant_id: UUID
    tenant: str | None  # None once the tenant is deleted
    valid: bool
    bytes: int
