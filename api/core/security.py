"""Access control: the optional API_KEY, checked by one ASGI middleware for every route.

When API_KEY is set, everything is closed except an explicit list of public paths (probes,
static assets, the login page, and /metrics unless METRICS_PUBLIC is false). Default-deny on
purpose: a new route (/mcp was one) is protected the day it is added, and
an unknown path answers 401 rather than telling a stranger what exists.

A client proves it knows the key with `Authorization: Bearer <key>` or `X-API-Key: <key>`. The
browser UI signs in once at /ui/login and then carries a session cookie: an HMAC of its issue
time and of the session epoch (`api.core.sessions`), keyed by API_KEY, never the key itself. So a
leaked cookie does not leak the key, expires on its own, every session ends when the key
changes, and signing out (which moves the epoch on) ends every session, copied cookies included.
"""

import contextlib
import hashlib
import hmac
import ipaddress
import json
import re
import time
from typing import Any
from urllib.parse import quote
from uuid import UUID

import structlog
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from api.core.config import Settings
from api.core.database import PRINCIPAL_SCOPE_KEY, Database
from api.core.errors import DATABASE_UNAVAILABLE, AppError
from api.core.hosts import WILDCARD_ADDRESSES
from api.core.metrics import Metrics
from api.core.sessions import service as sessions
from api.core.tenancy import service as tenancy
from api.core.tenancy.exceptions import Forbidden, TenantNotFound
from api.core.tenancy.limits import RateLimiter
from api.core.tenancy.schemas import ROLE_RANK, Principal

log = structlog.get_logger(__name__)

SESSION_COOKIE = "mnemolite_session"
SESSION_MAX_AGE_SECONDS = 7 * 24 * 3600
LOGIN_PATH = "/ui/login"
LOGOUT_PATH = "/ui/logout"
# Open whatever API_KEY says: load balancers and orchestrators probe these without credentials,
# and the login page must be reachable to sign in.
PUBLIC_PATHS = frozenset({"/health", "/readiness", LOGIN_PATH, LOGOUT_PATH, "/favicon.ico"})
# Vendored CSS/JS and icons: nothing secret, and the login page needs them.
PUBLIC_PREFIXES = ("/static/",)
METRICS_PATH = "/metrics"
# Shorter keys get a start-up warning: there is no rate limit on attempts.
MIN_KEY_CHARS = 16
# Paths a browser navigates to: an unauthenticated page view is sent to the login form.
BROWSER_PREFIXES = ("/ui", "/docs", "/redoc")
# A cookie is `<issue time>.<hex HMAC-SHA256>`, ASCII only: anything else (Unicode digits such as
# `²`, which str.isdigit accepts, a megabyte of text) is no session, decided before any work.
_TOKEN = re.compile(r"([0-9]{1,12})\.([0-9a-f]{64})")
UNAUTHORIZED_DETAIL = {
    "missing": "An API key is required (API_KEY is set): send `Authorization: Bearer <key>` "
    "or `X-API-Key: <key>`, or sign in at /ui/login.",
    "invalid": "The API key is not valid.",
}


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def keys_match(given: str, expected: SecretStr) -> bool:
    """Constant-time comparison: digests of equal length, so neither content nor length leaks."""
    return hmac.compare_digest(_digest(given), _digest(expected.get_secret_value()))


def session_token(key: SecretStr, *, epoch: int = 0, issued: int | None = None) -> str:
    """A cookie value proving a sign-in at `issued` (seconds since the epoch) during `epoch`."""
    issued = int(time.time()) if issued is None else issued
    return f"{issued}.{_session_signature(key, epoch, issued)}"


def session_shaped(token: str) -> bool:
    """Whether `token` could be a session cookie at all (checked before the epoch is read)."""
    return _TOKEN.fullmatch(token) is not None


def session_valid(token: str, key: SecretStr, *, epoch: int = 0, now: float | None = None) -> bool:
    """Whether `token` is a live session signed with `key` during `epoch`; never raises."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return False
    issued = int(match.group(1))
    now = time.time() if now is None else now
    # A minute of slack for clocks; anything older than the max age is refused.
    if not (issued - 60 <= now <= issued + SESSION_MAX_AGE_SECONDS):
        return False
    expected = _session_signature(key, epoch, issued)
    return hmac.compare_digest(_digest(match.group(2)), _digest(expected))


# A session signed in with a tenant key: `<issue time>.<key id>.<hex HMAC-SHA256>`, the HMAC
# keyed by the key's stored hash, so revoking or rotating the key ends its sessions at once.
_KEY_TOKEN = re.compile(
    r"([0-9]{1,12})\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([0-9a-f]{64})"
)


def key_session_token(key_id: UUID, secret_hash: str, *, issued: int | None = None) -> str:
    issued = int(time.time()) if issued is None else issued
    return f"{issued}.{key_id}.{_key_session_signature(secret_hash, key_id, issued)}"


def key_session_id(token: str) -> UUID | None:
    """The key a tenant session names, if `token` has that shape at all."""
    match = _KEY_TOKEN.fullmatch(token)
    return None if match is None else UUID(match.group(2))


def key_session_valid(
    token: str, key_id: UUID, secret_hash: str, *, now: float | None = None
) -> bool:
    match = _KEY_TOKEN.fullmatch(token)
    if match is None or UUID(match.group(2)) != key_id:
        return False
    issued = int(match.group(1))
    now = time.time() if now is None else now
    if not (issued - 60 <= now <= issued + SESSION_MAX_AGE_SECONDS):
        return False
    expected = _key_session_signature(secret_hash, key_id, issued)
    return hmac.compare_digest(_digest(match.group(3)), _digest(expected))


def _key_session_signature(secret_hash: str, key_id: UUID, issued: int) -> str:
    message = f"mnemolite-ui-key-session:{key_id}:{issued}".encode()
    return hmac.new(secret_hash.encode(), message, hashlib.sha256).hexdigest()


def _session_signature(key: SecretStr, epoch: int, issued: int) -> str:
    message = f"mnemolite-ui-session:{epoch}:{issued}".encode()
    return hmac.new(key.get_secret_value().encode(), message, hashlib.sha256).hexdigest()


def is_public(path: str, *, metrics_public: bool) -> bool:
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return True
    return metrics_public and path == METRICS_PATH


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path on this site only, never `//evil.example`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/ui/"
    return target


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(settings: Settings) -> None:
    """At start-up: say loudly when the service listens beyond this machine with no key."""
    if settings.api_key is None and not is_loopback(settings.host):
        log.warning(
            "api_key_not_set",
            host=settings.host,
            message="HOST is not a loopback address and API_KEY is unset: anyone who can reach "
            "this port can read and delete every memory. Set API_KEY.",
        )
    elif settings.api_key is not None and len(settings.api_key) < MIN_KEY_CHARS:
        log.warning(
            "api_key_short",
            message=f"API_KEY has fewer than {MIN_KEY_CHARS} characters and nothing slows down "
            "guessing; use secrets.token_urlsafe(32).",
        )
    if settings.host.strip() in WILDCARD_ADDRESSES and not settings.allowed_hosts:
        log.warning(
            "allowed_hosts_loopback_only",
            host=settings.host,
            message="HOST listens on every interface but ALLOWED_HOSTS is empty: only requests "
            "addressed to localhost, 127.0.0.1 or [::1] are served, any other name or address "
            "gets 421. Set ALLOWED_HOSTS to the names clients use (comma-separated).",
        )
    elif "*" in settings.allowed_hosts:
        log.warning(
            "allowed_hosts_any",
            message="ALLOWED_HOSTS=* serves any Host name: a web page can reach the service "
            "through DNS rebinding. Prefer listing the names clients use, and set API_KEY.",
        )


class ApiKeyMiddleware:
    """Decide who a request acts as (its Principal: a tenant and a rank), or refuse it.

    - API_KEY, or a session cookie signed with it: the operator, on the tenant that `X-Tenant`
      names (`default` without the header).
    - A tenant key (`mnl_...`, in the database): its tenant, with its role.
    - No key while API_KEY is unset (a loopback service): the operator, as before tenancy.
    The principal's rank must reach the route's (`required_rank`): else 403.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: SecretStr | None,
        metrics_public: bool,
        metrics: Metrics,
        limiter: RateLimiter | None = None,
        tenants: tenancy.TenantDirectory | None = None,
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.metrics_public = metrics_public
        self.metrics = metrics
        self.limiter = limiter or RateLimiter(rate=0, burst=0)
        self.tenants = tenants or tenancy.TenantDirectory()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _route_path(scope) if scope["type"] in ("http", "websocket") else ""
        if scope["type"] not in ("http", "websocket") or is_public(
            path, metrics_public=self.metrics_public
        ):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        try:
            outcome = await self._check(scope, headers)
            if isinstance(outcome, Principal):
                outcome = await self._on_tenant(scope, headers, outcome)
        except (TenantNotFound, Forbidden) as exc:
            await _refuse(scope, send, exc)
            return
        except (AppError, *DATABASE_UNAVAILABLE) as exc:
            # The session epoch could not be read: the database is away, so is every route.
            log.warning("session_check_unavailable", path=scope["path"], error=repr(exc))
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1011})
                return
            body = json.dumps(
                {
                    "error": "database_unavailable",
                    "detail": "The database cannot be reached to check the session; retry shortly.",
                }
            )
            extra = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
            await _send(scope, send, 503, body.encode(), extra)
            return
        if isinstance(outcome, Principal):
            needed = tenancy.required_rank(scope.get("method", "GET"), path)
            if outcome.rank < needed:
                await _refuse(scope, send, Forbidden(_rank_message(outcome, needed)))
                return
            refusal = self.limiter.refusal(outcome)
            if refusal is not None:
                self.metrics.quota_refusals.labels("rate").inc()
                await _refuse(scope, send, refusal)
                return
            self.metrics.tenant_requests.labels(
                self.metrics.tenant_label(outcome.tenant_name)
            ).inc()
            scope[PRINCIPAL_SCOPE_KEY] = outcome
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if outcome == "invalid":
            log.warning("api_key_rejected", path=scope["path"])
        await _deny(scope, send, outcome)

    async def _check(self, scope: Scope, headers: dict[str, str]) -> Principal | str:
        """The principal the request proves, else why not: "missing" or "invalid"."""
        presented = []
        if "x-api-key" in headers:
            presented.append(headers["x-api-key"].strip())
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            presented.append(credentials.strip())
        if self.api_key is not None and any(keys_match(v, self.api_key) for v in presented):
            return tenancy.operator()
        for value in presented:
            if tenancy.key_shaped(value):
                principal = await tenancy.authenticate(self._database(scope), value)
                if principal is not None:
                    return principal
        if presented:
            return "invalid"
        if self.api_key is None:
            return tenancy.operator()
        cookie = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
        # Only a cookie of the right shape costs a database read (the epoch, or the key).
        if cookie and session_shaped(cookie):
            epoch = await sessions.current_epoch(self._database(scope))
            if session_valid(cookie, self.api_key, epoch=epoch):
                return tenancy.operator()
        key_id = key_session_id(cookie) if cookie else None
        if cookie and key_id is not None:
            found = await tenancy.session_key(self._database(scope), key_id)
            if found is not None and key_session_valid(cookie, key_id, found[1]):
                return found[0]
        return "invalid" if cookie else "missing"

    async def _on_tenant(
        self, scope: Scope, headers: dict[str, str], principal: Principal
    ) -> Principal:
        """X-Tenant: the operator's choice of tenant; a tenant key may only name its own."""
        name = headers.get(TENANT_HEADER, "").strip()
        if not name and principal.is_operator:
            # The UI's choice (the tenant switch in the page header), for the operator only.
            chosen = cookie_parser(headers.get("cookie", "")).get(TENANT_COOKIE, "").strip()
            if chosen and chosen != principal.tenant_name:
                with contextlib.suppress(TenantNotFound):  # deleted since: the default one
                    database = self._database(scope)
                    return tenancy.operator(await self.tenants.named(database, chosen))
            return principal
        if not name or name == principal.tenant_name:
            return principal
        if not principal.is_operator:
            raise Forbidden(
                f"This key belongs to tenant {principal.tenant_name!r}: it cannot act on "
                "another tenant (leave X-Tenant out)."
            )
        return tenancy.operator(await self.tenants.named(self._database(scope), name))

    def _database(self, scope: Scope) -> Database:
        pool = scope.get("state", {}).get("pool")
        if pool is None:
            raise AppError("The service is starting or stopping.")
        return Database(pool, self.metrics)


TENANT_HEADER = "x-tenant"
# The operator's tenant in the web UI (set by POST /ui/tenant), when no X-Tenant is sent.
TENANT_COOKIE = "mnemolite_tenant"


def _rank_message(principal: Principal, needed: int) -> str:
    role = next((name for name, rank in ROLE_RANK.items() if rank == principal.rank), "?")
    if needed > max(ROLE_RANK.values()):
        return "Only the operator key (API_KEY) may manage tenants."
    wanted = next(name for name, rank in ROLE_RANK.items() if rank == needed)
    return f"This key's role is {role!r}; this request needs {wanted!r} or above."


async def _refuse(scope: Scope, send: Send, error: AppError) -> None:
    body = json.dumps({"error": error.error, "detail": error.detail})
    headers = [(b"content-type", b"application/json")]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await _send(scope, send, error.status_code, body.encode(), headers)


def _route_path(scope: Scope) -> str:
    """The path routes see: behind a proxy's root_path, `/prefix/health` is `/health`."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] or "/" if root and path.startswith(root) else path


def _headers(scope: Scope) -> dict[str, str]:
    return {
        key.decode("latin-1").lower(): value.decode("latin-1")
        for key, value in scope.get("headers", [])
    }


async def _deny(scope: Scope, send: Send, verdict: str) -> None:
    headers = _headers(scope)
    path: str = scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    here = path + (f"?{query}" if query else "")
    login = f"{LOGIN_PATH}?next={quote(here, safe='')}"
    page_view = (
        scope["method"] in ("GET", "HEAD")
        and headers.get("hx-request") != "true"
        and "text/html" in headers.get("accept", "")
        and path.startswith(BROWSER_PREFIXES)
    )
    if page_view:
        await _send(scope, send, 303, b"", [(b"location", login.encode("latin-1"))])
        return
    body = json.dumps({"error": "unauthorized", "detail": UNAUTHORIZED_DETAIL[verdict]})
    extra = [(b"www-authenticate", b"Bearer"), (b"content-type", b"application/json")]
    if headers.get("hx-request") == "true":
        # htmx follows HX-Redirect with a full page load: an expired session lands on the login.
        extra.append((b"hx-redirect", LOGIN_PATH.encode()))
    await _send(scope, send, 401, body.encode(), extra)


async def _send(
    scope: Scope, send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def install_openapi_security(app: FastAPI, settings: Settings) -> None:
    """Declare the key in the OpenAPI schema, so /docs shows it and its Authorize button works."""
    if settings.api_key is None:
        return
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "API_KEY"},
            "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        for path, operations in schema.get("paths", {}).items():
            if is_public(path, metrics_public=settings.metrics_public):
                continue
            for operation in operations.values():
                operation["security"] = [{"bearer": []}, {"apiKeyHeader": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
