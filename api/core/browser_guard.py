"""Refuse what a web page can make the user's browser send: a foreign Host, a cross-site write.

The default setup (127.0.0.1, no API_KEY) trusts whoever reaches the port, and so does every
page open in the user's browser. Two checks, on every path (/ui, /v1, /mcp, the login form):

- **Host.** The Host header must name a served host (`api.core.hosts.HostPolicy`): a page whose own
  name was rebound to 127.0.0.1 sends `Host: attacker.example` and gets 421.
- **Cross-site writes.** A request with another method than GET/HEAD/OPTIONS that a browser sent
  from another site is refused with 403: `Sec-Fetch-Site` must be `same-origin` (or `none`, a
  user's own action) and `Origin`, when sent, must be this site (`null` is not). Browsers send
  at least one of the two on every such request, cookie or not; clients without them (curl,
  the SDKs, MCP clients) are not browsers and pass. This holds with API_KEY too: the session
  cookie is SameSite=Strict, and this also covers the login form (login CSRF).

JSON endpoints also refuse bodies that are not `application/json` (FastAPI's strict content
type), which a cross-site form cannot send; these checks do not depend on that.
"""

from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from api.core.config import Settings
from api.core.hosts import Authority, HostPolicy, Origin, parse_authority, parse_origin
from api.core.middleware import send_json

log = structlog.get_logger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# `none`: the user typed the address or used a bookmark; no page asked for it.
TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})
# Echoed values are cut: a refusal must not become a way to make the service repeat a megabyte.
MAX_ECHO_CHARS = 100


@dataclass(frozen=True)
class Refusal:
    status: int
    error: str
    detail: str


@dataclass(frozen=True)
class Accepted:
    """The request may go on, with these canonical Host and Origin values (None: not sent)."""

    host: str
    origin: str | None


def policy_from_settings(settings: Settings) -> HostPolicy:
    return HostPolicy.build(settings.allowed_hosts, listen_host=settings.host)


def judge(
    method: str, headers: list[tuple[bytes, bytes]], policy: HostPolicy
) -> Accepted | Refusal:
    """The verdict on one request, from its method and raw headers alone."""
    hosts, origins, fetch_sites = [], [], []
    for name, value in headers:
        key = name.lower()
        if key == b"host":
            hosts.append(value.decode("latin-1"))
        elif key == b"origin":
            origins.append(value.decode("latin-1"))
        elif key == b"sec-fetch-site":
            fetch_sites.append(value.decode("latin-1").strip().lower())
    if len(hosts) != 1:
        return Refusal(400, "bad_host", "The request needs exactly one Host header.")
    host = parse_authority(hosts[0].strip())
    if host is None:
        return Refusal(400, "bad_host", f"The Host header {_echo(hosts[0])} is not host[:port].")
    if not policy.allows_host(host):
        return Refusal(
            421,
            "host_not_allowed",
            f"This server does not answer to the name {_echo(host.host)}: it serves "
            f"{policy.describe()}. If it should, add the name to ALLOWED_HOSTS (the list is a "
            "defence against DNS rebinding).",
        )
    origin = parse_origin(origins[0].strip()) if len(origins) == 1 else None
    canonical_origin = str(origin) if origin is not None else None
    if method.upper() in SAFE_METHODS:
        return Accepted(str(host), canonical_origin)
    why = _cross_site(origins, origin, fetch_sites, host, policy)
    if why is not None:
        return Refusal(
            403,
            "cross_site_request",
            f"Cross-site request refused: {why}. A page of another site cannot change anything "
            "here; use this site's own pages, or a client that sends no Origin (curl, an SDK).",
        )
    return Accepted(str(host), canonical_origin)


def _cross_site(
    origins: list[str],
    origin: Origin | None,
    fetch_sites: list[str],
    host: Authority,
    policy: HostPolicy,
) -> str | None:
    """Why a write is cross-site, or None when it is not (or comes from no browser)."""
    if any(site not in TRUSTED_FETCH_SITES for site in fetch_sites):
        return f"Sec-Fetch-Site is {_echo(', '.join(fetch_sites))}"
    if not origins:
        return None
    if len(origins) > 1:
        return "the request has several Origin headers"
    if origin is None or not policy.allows_origin(origin, host):
        return f"Origin {_echo(origins[0])} is not this site ({host})"
    return None


def _echo(value: str) -> str:
    shown = value if len(value) <= MAX_ECHO_CHARS else value[:MAX_ECHO_CHARS] + "..."
    return repr(shown)


class BrowserGuardMiddleware:
    """Apply `judge` to every HTTP request and WebSocket handshake."""

    def __init__(self, app: ASGIApp, *, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # A WebSocket handshake is a GET, but it opens a channel both ways: judged as a write.
        method = scope["method"] if scope["type"] == "http" else "WEBSOCKET"
        verdict = judge(method, scope.get("headers", []), self.policy)
        if isinstance(verdict, Refusal):
            log.info("browser_request_refused", path=scope["path"], error=verdict.error)
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send_json(
                send, verdict.status, {"error": verdict.error, "detail": verdict.detail}
            )
            return
        _canonicalise(scope, verdict)
        await self.app(scope, receive, send)


def _canonicalise(scope: Scope, verdict: Accepted) -> None:
    """Give the scope canonical Host and Origin headers.

    The MCP transport checks both again against exact strings (`api.web.mcp.server`):
    `LOCALHOST.:8001` or `[0::1]` must reach it as the `localhost:8001` and `[::1]` it knows.
    In place, not on a copy: the routes record themselves in this scope for the access log.
    """
    headers = []
    for name, value in scope.get("headers", []):
        key = name.lower()
        if key == b"host":
            value = verdict.host.encode("latin-1")
        elif key == b"origin" and verdict.origin is not None:
            value = verdict.origin.encode("latin-1")
        headers.append((name, value))
    scope["headers"] = headers
