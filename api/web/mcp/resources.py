"""The MCP resources: read-only views an agent (or its user) can attach as context."""

import json
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError

from api.code.index import service as code_index
from api.core.errors import AppError
from api.memory.events import service as events
from api.web.mcp.backend import BackendGetter
from api.web.mcp.views import compact_event

RECENT_EVENTS = 20


def register_resources(server: MCPServer[Any], backend: BackendGetter) -> None:
    @server.resource(
        "mnemolite://events/recent",
        name="recent_events",
        title="Recent memories",
        description=f"The {RECENT_EVENTS} most recent memories, newest first (compact JSON).",
        mime_type="application/json",
    )
    async def recent_events() -> str:
        ready = backend()
        async with ready.database.connection() as conn:
            page = await events.list_events(conn, filters=None, limit=RECENT_EVENTS, offset=0)
        return json.dumps({"events": [compact_event(event, ready) for event in page.data]})

    @server.resource(
        "mnemolite://repositories/{name}",
        name="repository",
        title="Indexed repository",
        description="An indexed repository: file and chunk counts, chunks per language, and "
        "when it was last indexed. A name holding '/' is percent-encoded (org%2Frepo).",
        mime_type="application/json",
    )
    async def repository(name: str) -> str:
        async with backend().database.connection() as conn:
            try:
                detail = await code_index.get_repository(conn, name)
            except AppError as exc:
                # A ResourceError's message reaches the client; any other error is hidden.
                raise ResourceError(str(exc.detail)) from exc
        return detail.model_dump_json()
