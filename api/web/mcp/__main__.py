"""`python -m api.web.mcp`: the MCP server over stdio, for agents that start it themselves.

It uses DATABASE_URL, or starts the embedded PostgreSQL (as `make run` does) and migrates it.
stdout carries the protocol: every log line goes to stderr.
"""

import contextlib
import os
import sys
from collections.abc import Iterator

import anyio
import structlog

from api.core.config import Settings, get_settings
from api.core.log_setup import configure_logging
from api.startup import started
from api.web.mcp.backend import Backend
from api.web.mcp.server import build_server

log = structlog.get_logger(__name__)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Point fd 1 at stderr while starting: initdb, the embedded server it spawns (which keeps
    the descriptor for life) and model loading must not write into the protocol stream."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


async def serve(settings: Settings) -> None:
    async with contextlib.AsyncExitStack() as stack:
        with stdout_to_stderr():
            # The embedded database is ours to bring up to date, as `make run` does; a server
            # given by URL is migrated by its owner (the start-up check says so if it is behind).
            runtime = await stack.enter_async_context(
                started(settings, migrate=not settings.database_url)
            )
        backend = Backend(
            database=runtime.database,
            embedders=runtime.embedders,
            settings=settings,
            metrics=runtime.metrics,
        )
        server = build_server(lambda: backend)
        log.info("mcp_stdio_ready", database=runtime.redacted_url)
        await server.run_stdio_async()


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, stream=sys.stderr)
    anyio.run(serve, settings)


if __name__ == "__main__":
    main()
