"""The FastAPI application: `create_app()` wires settings, middleware, routes and the lifespan."""

import asyncio
import dataclasses
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypedDict

import asyncpg
import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import api
from api.code.graph.router import router as code_graph_router
from api.code.index.parsing import ParsePool
from api.code.jobs import worker as index_worker
from api.code.jobs.router import router as index_jobs_router
from api.code.router import router as code_index_router
from api.code.search.router import router as code_search_router
from api.core.browser_guard import BrowserGuardMiddleware, policy_from_settings
from api.core.config import Settings, get_settings
from api.core.errors import ERROR_RESPONSES, install_error_handlers
from api.core.log_setup import configure_logging
from api.core.metrics import Metrics, create_metrics
from api.core.middleware import (
    BodySizeLimitMiddleware,
    RequestMetricsMiddleware,
    TrailingSlashMiddleware,
)
from api.core.migrations import head_revision
from api.core.replication.service import ReadReplicas
from api.core.security import ApiKeyMiddleware, install_openapi_security, warn_if_exposed
from api.core.tenancy.limits import RateLimiter
from api.core.tenancy.router import router as admin_router
from api.core.tenancy.service import TenantDirectory
from api.core.vectors.schemas import SearchTuning
from api.embeddings.factory import Embedders
from api.memory.events import expiry
from api.memory.events.router import router as events_router
from api.memory.search.router import router as search_router
from api.ops.health.router import router as health_router
from api.startup import started
from api.web.mcp.backend import Backend, BackendUnavailable
from api.web.mcp.server import StreamableHTTPEndpoint, build_server
from api.web.ui.login import router as login_router
from api.web.ui.router import router as ui_router

log = structlog.get_logger(__name__)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


class State(TypedDict):
    """What the lifespan hands to every request (`request.state.pool`, ...)."""

    pool: asyncpg.Pool
    replicas: ReadReplicas | None
    embedders: Embedders
    parser: ParsePool


def create_app(
    settings: Settings | None = None,
    *,
    embedders: Embedders | None = None,
    database_url: str | None = None,
    metrics: Metrics | None = None,
    migrate: bool = False,
) -> FastAPI:
    """Build the app. Tests pass mock `embedders` (with their `metrics`) and a `database_url`;
    `make run` passes `migrate=True` (see api.startup)."""
    settings = settings or get_settings()
    metrics = metrics or create_metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        warn_if_exposed(settings)
        async with started(
            settings,
            embedders=embedders,
            metrics=metrics,
            database_url=database_url,
            migrate=migrate,
        ) as runtime:
            pool, active = runtime.pool, runtime.embedders
            # What the database offers is known now: BM25 or the ts_rank fallback.
            app.state.search_tuning = dataclasses.replace(
                app.state.search_tuning,
                lexical_ranking=runtime.lexical_ranking,
                halfvec_indexes=runtime.halfvec_indexes,
            )
            # Its processes start on the first file to parse, not here.
            parser = ParsePool(
                workers=settings.code_index_parse_workers,
                file_timeout=settings.code_index_file_timeout_seconds,
                max_file_chunks=settings.code_index_max_file_chunks,
            )
            stop_worker = asyncio.Event()
            worker = None
            purge = None
            try:
                purge = expiry.start(runtime.database, stop_worker, settings, metrics)
                if settings.index_worker_in_process:
                    worker = asyncio.create_task(
                        index_worker.work(
                            runtime.database,
                            active,
                            stop_worker,
                            worker=f"api-{socket.gethostname()}-{os.getpid()}",
                            poll_seconds=settings.index_worker_poll_seconds,
                            metrics=metrics,
                            max_file_bytes=settings.code_index_max_file_bytes,
                            max_code_chunks=settings.tenant_max_code_chunks,
                            parser=parser,
                        ),
                        name="index-worker",
                    )
                log.info(
                    "service_ready",
                    text_model=active.text.model_name,
                    code_model=active.code.model_name,
                    dimension=active.text.dimension,
                    database=runtime.redacted_url,
                    lexical_ranking=runtime.lexical_ranking,
                )
                # The MCP tools run outside any request of ours: they find the pool and the
                # models on app.state, for as long as the lifespan (and the MCP sessions) run.
                app.state.mcp_backend = Backend(
                    database=runtime.database,
                    embedders=active,
                    settings=settings,
                    metrics=metrics,
                    tuning=app.state.search_tuning,
                )
                mcp_sessions = mcp_endpoint.session_manager(
                    max_request_bytes=settings.max_request_bytes
                )
                async with mcp_sessions.run():
                    yield {
                        "pool": pool,
                        "replicas": runtime.database.replicas,
                        "embedders": active,
                        "parser": parser,
                    }
            finally:
                app.state.mcp_backend = None
                stop_worker.set()
                if purge is not None:
                    await purge  # after its current batch
                if worker is not None:
                    await worker  # finishes the job batch in progress
                await parser.aclose()  # after the worker, which parses until its batch is done

    app = FastAPI(
        title="MnemoLite",
        version=api.__version__,
        summary="PostgreSQL-native memory for AI agents: events, search and code.",
        lifespan=lifespan,
        redirect_slashes=False,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    # One per app: it also holds what searches learnt of the tenants' sizes.
    app.state.search_tuning = SearchTuning.from_settings(settings)
    app.state.schema_head = head_revision()
    app.state.mcp_backend = None
    # Shared by the access check (X-Tenant) and the admin routes, which forget what they change.
    app.state.tenant_directory = TenantDirectory()

    def mcp_backend() -> Backend:
        backend: Backend | None = app.state.mcp_backend
        if backend is None:
            raise BackendUnavailable("MnemoLite is starting or stopping; retry shortly.")
        return backend

    hosts = policy_from_settings(settings)
    mcp_endpoint = StreamableHTTPEndpoint(build_server(mcp_backend), hosts=hosts)

    install_error_handlers(app)
    app.include_router(events_router)
    app.include_router(search_router)
    app.include_router(code_index_router)
    app.include_router(code_search_router)
    app.include_router(code_graph_router)
    app.include_router(index_jobs_router)
    app.include_router(admin_router)
    app.include_router(login_router)
    app.include_router(ui_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(health_router)
    # A bare ASGI route, not a Mount: `/mcp` itself is the endpoint (a Mount would redirect it to
    # `/mcp/`), and like every non-FastAPI route it stays out of the OpenAPI schema.
    app.router.routes.append(Route(mcp_endpoint.path, mcp_endpoint, include_in_schema=False))
    install_openapi_security(app, settings)

    # Added last = outermost: the proxy's scheme is known first (the cookie's Secure flag),
    # slashes are normalised before anything else sees the path, a foreign Host or cross-site
    # write is refused before the key is checked (a 403 whether or not a key is set), and the
    # key before a body is read (a refusal is logged and timed like any answer).
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(
        ApiKeyMiddleware,
        api_key=settings.api_key,
        metrics_public=settings.metrics_public,
        metrics=metrics,
        limiter=RateLimiter.from_settings(settings),
        tenants=app.state.tenant_directory,
    )
    app.add_middleware(BrowserGuardMiddleware, policy=hosts)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.add_middleware(TrailingSlashMiddleware)
    if settings.trusted_proxies:
        # Here rather than uvicorn's --forwarded-allow-ips: TRUSTED_PROXIES then holds however
        # the app is started (make run, the image's uvicorn command, compose).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    return app


def _default_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


app = _default_app()
