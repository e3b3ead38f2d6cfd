"""`python -m api.web.mcp`: the MCP server over stdio, for agents that start it themselves.

It uses DATABASE_URL, or starts the embedded PostgreSQL (as `make run` does) and migrates it.
stdout carries the protocol: every log line goes to stderr.
"""

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator

import anyio
import structlog

from api.core.config import Settings, get_settings
from api.core.database import Database, create_pool, redact_password, resolve_database_url
from api.core.log_setup import configure_logging
from api.core.metrics import create_metrics
from api.core.migrations import head_revision, upgrade
from api.embeddings.factory import build_embedders
from api.ops.health import service as health_service
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
    with stdout_to_stderr():
        url = await asyncio.to_thread(resolve_database_url, settings)
        # The embedded database is ours to bring up to date, as `make run` does; a server given
        # by URL is migrated by its owner (the start-up check below says so if it is behind).
        if not settings.database_url:
            await asyncio.to_thread(upgrade, url)
    pool = await create_pool(url, settings)
    metrics = create_metrics()
    try:
        async with pool.acquire() as conn:
            await health_service.check_schema(
                conn, head=head_revision(), dimension=settings.embedding_dimension
            )
        with stdout_to_stderr():
            embedders = await asyncio.to_thread(build_embedders, settings, metrics)
        await embedders.start()
        try:
            backend = Backend(
                database=Database(pool, metrics),
                embedders=embedders,
                settings=settings,
                metrics=metrics,
            )
            server = build_server(lambda: backend)
            log.info("mcp_stdio_ready", database=redact_password(url))
            await server.run_stdio_async()
        finally:
            await embedders.aclose()
    finally:
        await pool.close()


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, stream=sys.stderr)
    anyio.run(serve, settings)


if __name__ == "__main__":
    main()
