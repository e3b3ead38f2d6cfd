"""Sign-in for the browser UI when API_KEY is set: a form that trades the key for a cookie.

The checks themselves live in `api.core.security`; this module only renders the form, sets the
session cookie, and on sign-out clears it and ends every session (`api.core.sessions`).
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.core.database import Conn
from api.core.dependencies import SettingsDep
from api.core.security import (
    LOGIN_PATH,
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    keys_match,
    safe_next,
    session_shaped,
    session_token,
    session_valid,
)
from api.core.sessions import service as sessions
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
    api_key: Annotated[str, Form(max_length=4096)],
    next: Annotated[str | None, Form(max_length=2048)] = None,
) -> Response:
    """Check the key; on success set the session cookie and go back where the user was headed."""
    target = safe_next(next)
    if settings.api_key is None:
        return RedirectResponse(target, status_code=303)
    if not keys_match(api_key, settings.api_key):
        context = {"page": "login", "next": target, "error": "That key is not valid."}
        return render(request, "login.html", context, status_code=401)
    epoch = await sessions.epoch_of(conn)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_token(settings.api_key, epoch=epoch),
        max_age=SESSION_MAX_AGE_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        # The scheme the browser used: behind a TLS proxy listed in TRUSTED_PROXIES it is
        # X-Forwarded-Proto's (see create_app).
        secure=request.url.scheme == "https",
    )
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
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
