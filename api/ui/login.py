"""Sign-in for the browser UI when API_KEY is set: a form that trades the key for a cookie.

The checks themselves live in `api.security`; this module only renders the form and sets or
clears the session cookie.
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.dependencies import SettingsDep
from api.security import (
    LOGIN_PATH,
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    keys_match,
    safe_next,
    session_token,
)
from api.ui.rendering import render

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
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_token(settings.api_key),
        max_age=SESSION_MAX_AGE_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.api_route("/logout", methods=["GET", "POST"])
async def logout() -> Response:
    """Forget the session cookie and show the sign-in form."""
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
