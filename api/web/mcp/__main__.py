"""`python -m api.web.mcp`: the MCP server over stdio, for agents that start it themselves.

It uses DATABASE_URL, or starts the embedded PostgreSQL (as `make run` does) and migrates it.
stdout carries the protocol: every log line goes to stderr.

It acts as the operator on one tenant: `default`, or the one MNEMOLITE_TENANT names (which must
exist). Whoever can start it holds the database's credentials already, so no key is asked for.
"""

import contextlib
import os
import sys
from collections.abc import Iterator

import anyio
import structlog

from api.core.config import Settings, get_settings
from api.core.database import Database
from api.core.errors import StartupError
from api.core.log_setup import configure_logging
from api.core.tenancy import service as tenancy
from api.core.tenancy.exceptions import TenantNotFound
from api.core.tenancy.schemas import Principal
from api.core.vectors.schemas import SearchTuning
from api.startup import started
from api.web.mcp.backend import Backend
from api.web.mcp.server import build_server

log = structlog.get_logger(__name__)

# Read from the environment, not Settings: it means something to this entry point only (over
# HTTP the tenant is the request's), and the MCP client's configuration is where it is set.
TENANT_VARIABLE = "MNEMOLITE_TENANT"


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


async def stdio_principal(database: Database, name: str | None) -> Principal:
    """The operator on the tenant named (the default one when None or empty)."""
    if not name:
        return tenancy.operator()
    try:
        return tenancy.operator(await tenancy.tenant_named(database, name))
    except TenantNotFound:
        raise StartupError(
            f"{TENANT_VARIABLE}={name!r} names no tenant: create it first "
            "(POST /v1/admin/tenants with the operator key), or leave the variable out to use "
            "the default tenant."
        ) from None


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
            tuning=SearchTuning.from_settings(
                settings,
                lexical_ranking=runtime.lexical_ranking,
                halfvec_indexes=runtime.halfvec_indexes,
            ),
        )
        principal = await stdio_principal(
            runtime.database, os.environ.get(TENANT_VARIABLE, "").strip()
        )
        server = build_server(lambda: backend, principal=principal)
        log.info("mcp_stdio_ready", database=runtime.redacted_url, tenant=principal.tenant_name)
        await server.run_stdio_async()


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, stream=sys.stderr)
    try:
        anyio.run(serve, settings)
    except StartupError as exc:
        # What to fix, on stderr (stdout is the protocol's), without a traceback.
        log.error("mcp_stdio_refused", reason=str(exc))
        sys.exit(1)


if __name__ == "__main__":
    main()
