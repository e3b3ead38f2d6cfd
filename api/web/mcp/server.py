"""The MCP server object, its error translation, and the ASGI endpoint mounted at /mcp."""

import logging
from typing import Any

import structlog
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, InputRequiredResult
from starlette.types import Receive, Scope, Send

import api
from api.core.hosts import HostPolicy
from api.web.mcp.backend import BackendGetter
from api.web.mcp.errors import readable
from api.web.mcp.resources import register_resources
from api.web.mcp.tools import register_tools

log = structlog.get_logger(__name__)

INSTRUCTIONS = (
    "MnemoLite is a long-term memory and a code index. Store what is worth remembering with "
    "`remember` (add metadata such as project or type to filter on later) and find it with "
    "`recall`. Search indexed repositories with `search_code` and follow calls with "
    "`code_callers` / `code_callees`; `index_status` lists what is indexed."
)


class MnemoLiteMCP(MCPServer[Any]):
    """MCPServer, with tool failures reported as the REST API reports them.

    The SDK turns any exception of a tool into the bare "Error executing tool x" (so no
    internal detail leaks): our domain errors and validation errors are expected failures, and
    their messages are what the agent needs to correct its call.
    """

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            message = readable(exc.__cause__) if exc.__cause__ is not None else None
            if message is None:
                raise
            log.info("mcp_tool_refused", tool=name, detail=message)
            raise ToolError(message) from None


def build_server(backend: BackendGetter) -> MnemoLiteMCP:
    """The MCP server with every tool and resource; `backend` is called at each call."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    server = MnemoLiteMCP(
        name="mnemolite",
        title="MnemoLite",
        version=api.__version__,
        instructions=INSTRUCTIONS,
    )
    # MCPServer() calls logging.basicConfig, which installs its own root handler when none is
    # there yet (stdio, tests): the configuration of log_setup stays the only one.
    root.handlers[:] = handlers
    root.setLevel(level)
    register_tools(server, backend)
    register_resources(server, backend)
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
