"""The request's principal, as the access check (api.core.security) left it."""

from typing import Annotated

from fastapi import Depends, Request

from api.core.database import PRINCIPAL_SCOPE_KEY
from api.core.errors import AppError
from api.core.tenancy.schemas import Principal
from api.core.tenancy.service import TenantDirectory


async def get_principal(request: Request) -> Principal:
    principal: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if principal is None:  # only a public path has none, and no route below is public
        raise AppError("No principal: the access check did not run for this path.")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_tenant_directory(request: Request) -> TenantDirectory:
    directory: TenantDirectory = request.app.state.tenant_directory
    return directory


TenantDirectoryDep = Annotated[TenantDirectory, Depends(get_tenant_directory)]
