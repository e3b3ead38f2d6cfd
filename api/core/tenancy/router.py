"""Administration: tenants (the operator key) and each tenant's API keys (its admin keys)."""

from uuid import UUID

from fastapi import APIRouter, Response, status

from api.core.database import Database, DatabaseDep
from api.core.tenancy import service
from api.core.tenancy.dependencies import PrincipalDep, TenantDirectoryDep
from api.core.tenancy.exceptions import TenantNotFound
from api.core.tenancy.schemas import (
    KeyCreate,
    KeyCreated,
    KeyList,
    Principal,
    TenantCreate,
    TenantList,
    TenantRead,
    TenantUpdate,
)

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/tenants", status_code=status.HTTP_201_CREATED, response_model=TenantRead)
async def create_tenant(request: TenantCreate, database: DatabaseDep) -> TenantRead:
    """A new, empty tenant (operator key only)."""
    return await service.create_tenant(database, request.name)


@router.get("/tenants", response_model=TenantList)
async def list_tenants(database: DatabaseDep) -> TenantList:
    """Every tenant (operator key only)."""
    return await service.list_tenants(database)


@router.patch("/tenants/{name}", response_model=TenantRead)
async def update_tenant(
    name: str, request: TenantUpdate, database: DatabaseDep, directory: TenantDirectoryDep
) -> TenantRead:
    """Set a tenant's own quotas (operator key only); a field left out takes the default."""
    updated = await service.update_settings(database, name, request.settings)
    directory.forget(name)
    return updated


@router.delete("/tenants/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_tenant(
    name: str, database: DatabaseDep, directory: TenantDirectoryDep
) -> Response:
    """Delete a tenant and everything it owns (operator key only; not `default`)."""
    await service.delete_tenant(database, name)
    directory.forget(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _own_tenant(database: Database, principal: Principal, name: str) -> UUID:
    """The tenant named in the path, if the principal may manage it; another's is not found."""
    if principal.is_operator:
        return (await service.tenant_named(database, name)).id
    if name != principal.tenant_name:
        raise TenantNotFound(name)
    return principal.tenant_id


@router.post("/tenants/{name}/keys", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def create_key(
    name: str, request: KeyCreate, database: DatabaseDep, principal: PrincipalDep
) -> KeyCreated:
    """A new key for the tenant; the secret `key` is in this response only."""
    tenant_id = await _own_tenant(database, principal, name)
    return await service.create_key(database, tenant_id, request)


@router.get("/tenants/{name}/keys", response_model=KeyList)
async def list_keys(name: str, database: DatabaseDep, principal: PrincipalDep) -> KeyList:
    """The tenant's keys: prefix, role, dates and last use, never the secret."""
    tenant_id = await _own_tenant(database, principal, name)
    return await service.list_keys(database, tenant_id)


@router.post("/keys/{key_id}/rotate", response_model=KeyCreated)
async def rotate_key(key_id: UUID, database: DatabaseDep, principal: PrincipalDep) -> KeyCreated:
    """Replace a key's secret (same role, label, expiry); the old secret stops working at once."""
    return await service.rotate_key(database, principal.tenant_id, key_id)


@router.delete("/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_key(key_id: UUID, database: DatabaseDep, principal: PrincipalDep) -> Response:
    """Revoke a key of the caller's tenant (the operator: of the X-Tenant tenant) at once."""
    await service.revoke_key(database, principal.tenant_id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
