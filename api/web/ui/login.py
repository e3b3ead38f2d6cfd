"""Sign-in for the browser UI when API_KEY is set: a form that trades a key for a cookie.

The operator's key (API_KEY) gives an operator session; a tenant key gives a session of its
tenant and role, signed with the key's stored hash, so it ends when the key is revoked or
rotated. The checks themselves live in `api.core.security`; this module renders the form,
sets the cookies, and on sign-out clears them (an operator's sign-out ends every operator
session, `api.core.sessions`). The operator picks the tenant the pages show (POST /ui/tenant).
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.core.database import Conn, DatabaseDep
from api.core.dependencies import SettingsDep
from api.core.security import (
    LOGIN_PATH,
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    TENANT_COOKIE,
    key_session_token,
    keys_match,
    safe_next,
    session_shaped,
    session_token,
    session_valid,
)
from api.core.sessions import service as sessions
from api.core.tenancy import service as tenancy
from api.core.tenancy.dependencies import PrincipalDep
from api.core.tenancy.exceptions import Forbidden
from api.web.ui.rendering import render

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, settings: SettingsDep, next: str | None = None) -> Response:
    """The sign-in form (straight to the UI when no API_KEY is configured)."""
    if settings.api_key is None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"page": "login", "next": safe_next(next)})


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    settings: SettingsDep,
    conn: Conn,
    database: DatabaseDep,
    api_key: Annotated[str, Form(max_length=4096)],
    next: Annotated[str | None, Form(max_length=2048)] = None,
) -> Response:
    """Check the key; on success set the session cookie and go back where the user was headed."""
    target = safe_next(next)
    if settings.api_key is None:
        return RedirectResponse(target, status_code=303)
    api_key = api_key.strip()
    token = None
    if keys_match(api_key, settings.api_key):
        token = session_token(settings.api_key, epoch=await sessions.epoch_of(conn))
    else:
        principal = await tenancy.authenticate(database, api_key)
        if principal is not None and principal.key_id is not None:
            token = key_session_token(principal.key_id, tenancy.key_hash(api_key))
    if token is None:
        context = {"page": "login", "next": target, "error": "That key is not valid."}
        return render(request, "login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    _set_cookie(response, request, SESSION_COOKIE, token)
    response.delete_cookie(TENANT_COOKIE, path="/")
    return response


def _set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        max_age=SESSION_MAX_AGE_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        # The scheme the browser used: behind a TLS proxy listed in TRUSTED_PROXIES it is
        # X-Forwarded-Proto's (see create_app).
        secure=request.url.scheme == "https",
    )


@router.post("/tenant")
async def switch_tenant(
    request: Request,
    database: DatabaseDep,
    principal: PrincipalDep,
    name: Annotated[str, Form(max_length=63)],
    next: Annotated[str | None, Form(max_length=2048)] = None,
) -> Response:
    """The operator's choice of the tenant the pages show (a tenant key's session has one)."""
    if not principal.is_operator:
        raise Forbidden("Only the operator chooses the tenant; a tenant key shows its own.")
    tenant = await tenancy.tenant_named(database, name.strip())  # 404 for an unknown name
    response = RedirectResponse(safe_next(next), status_code=303)
    _set_cookie(response, request, TENANT_COOKIE, tenant.name)
    return response


# POST only: a GET that ends sessions could be fired by any page's <img src>.
@router.post("/logout")
async def logout(request: Request, settings: SettingsDep, conn: Conn) -> Response:
    """End every session (each browser signed in, copied cookies too) and show the sign-in form."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    # Only a signed-in browser may end the sessions: /ui/logout is public, so that an expired
    # session can still clear its cookie, and a stranger must not sign everyone out.
    if settings.api_key is not None and session_shaped(cookie):
        epoch = await sessions.epoch_of(conn)
        if session_valid(cookie, settings.api_key, epoch=epoch):
            await sessions.sign_out_everywhere(conn)
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    for name in (SESSION_COOKIE, TENANT_COOKIE):
        response.delete_cookie(
            name,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response
