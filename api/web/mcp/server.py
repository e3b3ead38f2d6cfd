"""The MCP server object, its error translation, and the ASGI endpoint mounted at /mcp.

Every tool call and resource read acts as a principal (api.core.tenancy.schemas): over HTTP the
one the access check left in the request's scope, over stdio the one the entry point chose.
The tools reach it through the backend getter, which hands out the principal's tenant only.
"""

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, InputRequiredResult
from pydantic import AnyUrl
from starlette.types import Receive, Scope, Send

import api
from api.core.database import PRINCIPAL_SCOPE_KEY
from api.core.hosts import HostPolicy
from api.core.tenancy.schemas import ROLE_RANK, Principal
from api.web.mcp.backend import Backend, BackendGetter, BackendUnavailable
from api.web.mcp.errors import readable
from api.web.mcp.resources import register_resources
from api.web.mcp.tools import WRITE_TOOLS, register_tools

log = structlog.get_logger(__name__)

INSTRUCTIONS = (
    "MnemoLite is a long-term memory and a code index. Store what is worth remembering with "
    "`remember` (add metadata such as project or type to filter on later) and find it with "
    "`recall`. Search indexed repositories with `search_code` and follow calls with "
    "`code_callers` / `code_callees`; `index_status` lists what is indexed."
)


# The principal of the call in progress: set around each tool call and resource read, in the
# task that runs it, and read by the backend getter the tools were given.
_PRINCIPAL: ContextVar[Principal | None] = ContextVar("mnemolite_mcp_principal", default=None)


def _rank_message(principal: Principal, needed: str) -> str:
    """The REST API's words for the same refusal (api.core.security)."""
    role = next((name for name, rank in ROLE_RANK.items() if rank == principal.rank), "?")
    return f"This key's role is {role!r}; this request needs {needed!r} or above."


class MnemoLiteMCP(MCPServer[Any]):
    """MCPServer, with tool failures reported as the REST API reports them, and every call made
    as its principal.

    The SDK turns any exception of a tool into the bare "Error executing tool x" (so no
    internal detail leaks): our domain errors and validation errors are expected failures, and
    their messages are what the agent needs to correct its call.

    `principal` is who a call without an HTTP request acts as (stdio, an in-memory client);
    over HTTP it is the request's, and a request without one is refused.
    """

    def __init__(self, *args: Any, principal: Principal | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.principal = principal

    def principal_of(self, context: Context[Any, Any] | None) -> Principal:
        request = None
        if context is not None:
            try:
                request = context.request_context.request
            except ValueError:  # a context built outside any request
                request = None
        if request is None:
            if self.principal is None:
                raise BackendUnavailable("No tenant for this call: the server has no principal.")
            return self.principal
        principal: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
        if principal is None:
            # The access check runs before /mcp: without its verdict nothing is served.
            raise BackendUnavailable("No tenant for this request: the access check did not run.")
        return principal

    @contextmanager
    def _acting_as(self, principal: Principal) -> Iterator[None]:
        token = _PRINCIPAL.set(principal)
        try:
            yield
        finally:
            _PRINCIPAL.reset(token)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            principal = self.principal_of(context)
        except BackendUnavailable as exc:
            raise ToolError(str(exc)) from None
        if name in WRITE_TOOLS and not principal.may("write"):
            refusal = _rank_message(principal, "write")
            log.info("mcp_tool_refused", tool=name, detail=refusal)
            raise ToolError(refusal)
        try:
            with self._acting_as(principal):
                return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            message = readable(exc.__cause__) if exc.__cause__ is not None else None
            if message is None:
                raise
            log.info("mcp_tool_refused", tool=name, detail=message)
            raise ToolError(message) from None

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[Any, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        # Resources only read: any principal may, on its own tenant.
        try:
            principal = self.principal_of(context)
        except BackendUnavailable as exc:
            raise ResourceError(str(exc)) from None
        with self._acting_as(principal):
            return await super().read_resource(uri, context)


def scoped(backend: BackendGetter) -> BackendGetter:
    """The getter the tools use: the service's backend, set to the current call's tenant."""

    def for_the_call() -> Backend:
        ready = backend()
        principal = _PRINCIPAL.get()
        if principal is None:  # only a call that bypassed MnemoLiteMCP has none
            raise BackendUnavailable("No tenant for this call: it did not go through the server.")
        return ready.for_principal(principal)

    return for_the_call


def build_server(backend: BackendGetter, *, principal: Principal | None = None) -> MnemoLiteMCP:
    """The MCP server with every tool and resource; `backend` is called at each call.

    `principal`: who calls without an HTTP request act as (stdio); over HTTP, the request's."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    server = MnemoLiteMCP(
        name="mnemolite",
        title="MnemoLite",
        version=api.__version__,
        instructions=INSTRUCTIONS,
        principal=principal,
    )
    # MCPServer() calls logging.basicConfig, which installs its own root handler when none is
    # there yet (stdio, tests): the configuration of log_setup stays the only one.
    root.handlers[:] = handlers
    root.setLevel(level)
    register_tools(server, scoped(backend))
    register_resources(server, scoped(backend))
    return server


def transport_security(hosts: HostPolicy) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding check, on the same names as `api.core.browser_guard`.

    That middleware already refused a foreign Host or a cross-site write, and hands on canonical
    Host and Origin headers, which the SDK compares as exact strings (`name` or `name:port`).
    The SDK cannot say "any host": with ALLOWED_HOSTS=* its check is off and the middleware's
    Origin check alone remains.
    """
    if hosts.any_host:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = sorted(hosts.served)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[form for name in names for form in (name, f"{name}:*")],
        allowed_origins=[
            form
            for name in names
            for scheme in ("http", "https")
            for form in (f"{scheme}://{name}", f"{scheme}://{name}:*")
        ],
    )


class StreamableHTTPEndpoint:
    """The ASGI app served at /mcp, bound to the session manager of the current lifespan.

    The SDK's session manager runs once per instance: each lifespan (tests run several) makes a
    fresh one with `start()`, and requests reach whichever is current.
    """

    def __init__(
        self, server: MnemoLiteMCP, *, path: str = "/mcp", hosts: HostPolicy | None = None
    ) -> None:
        self.server = server
        self.path = path
        self.hosts = hosts or HostPolicy()

    def session_manager(self, *, max_request_bytes: int) -> StreamableHTTPSessionManager:
        # Stateless and JSON: no session lives in this process, so several uvicorn workers (or
        # replicas) can serve one client; the tools need no server-to-client stream.
        self.server.streamable_http_app(
            streamable_http_path=self.path,
            stateless_http=True,
            json_response=True,
            max_request_body_size=max_request_bytes,
            transport_security=transport_security(self.hosts),
        )
        return self.server.session_manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette records no route for a plain ASGI endpoint (FastAPI does for its own): this
        # one stands in, so metrics and the access log say `/mcp` rather than "unmatched".
        scope["route"] = self
        await self.server.session_manager.handle_request(scope, receive, send)
