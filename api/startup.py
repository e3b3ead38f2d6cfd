"""What every process entry point starts the same way: the database, its check, the models.

`started()` is used by the API lifespan (api/main.py, which `scripts/serve.py` runs), the job
worker (`python -m workers`) and the stdio MCP server (`python -m api.web.mcp`); each keeps only
what is its own (app state and the in-process worker, signal handling, the stdout redirection).
It lives at the api/ root, not in core: it builds the embedders, and core sits below embeddings.
It imports only api.core and api.embeddings, so any entry point may use it.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import structlog

from api.core.config import Settings
from api.core.database import Database, create_pool, redact_password, resolve_database_url
from api.core.metrics import Metrics, create_metrics
from api.core.migrations import upgrade
from api.core.replication.service import ReadReplicas, Replica
from api.core.schema.service import ensure_schema, lexical_ranking
from api.core.vectors.schemas import VECTOR_TARGETS, LexicalRanking
from api.core.vectors.service import halfvec_indexes
from api.embeddings.factory import Embedders, build_embedders

log = structlog.get_logger(__name__)

# What a server without BM25 needs, for the start-up warning (docs/operations.md has the steps).
BM25_HINT = (
    "pg_textsearch (BM25) is missing or not preloaded, or its indexes are not built: lexical "
    "search ranks with ts_rank, which finds far less for a natural question. `make install` "
    "builds it into the embedded server and the compose image has it; on your own server build "
    "pg_textsearch 1.4.0, add it to shared_preload_libraries, restart, and create the extension "
    "and the two indexes (docs/operations.md, section 'BM25 (pg_textsearch)')."
)


VECTOR_COLUMNS = frozenset(target.name for target in VECTOR_TARGETS)


@dataclass(frozen=True)
class Runtime:
    """The collaborators of a running process, open for as long as `started()` runs."""

    settings: Settings
    database_url: str
    pool: asyncpg.Pool
    database: Database
    embedders: Embedders
    metrics: Metrics
    lexical_ranking: LexicalRanking = "ts_rank"
    # The vector columns whose HNSW index holds halfvec (SearchTuning.halfvec_indexes).
    halfvec_indexes: frozenset[str] = frozenset()

    @property
    def redacted_url(self) -> str:
        return redact_password(self.database_url)


@asynccontextmanager
async def started(
    settings: Settings,
    *,
    embedders: Embedders | None = None,
    metrics: Metrics | None = None,
    database_url: str | None = None,
    migrate: bool = False,
) -> AsyncIterator[Runtime]:
    """Open the pool, refuse a database this code cannot serve, load and start the models.

    `database_url` defaults to DATABASE_URL or the embedded server (started if need be).
    `migrate` upgrades the database to head first: `make run` and the stdio MCP server on the
    embedded database do; a server given by URL is otherwise migrated by its owner, and the
    check says so when it is behind. Embedders passed in belong to the caller, who closes them.
    """
    metrics = metrics or create_metrics()
    url = database_url
    if url is None:
        url = await asyncio.to_thread(resolve_database_url, settings)
    if migrate:
        await asyncio.to_thread(upgrade, url)
    pool = await create_pool(url, settings)
    owned: Embedders | None = None
    replicas: ReadReplicas | None = None
    stop_polling = asyncio.Event()
    polling: asyncio.Task[None] | None = None
    try:
        # Before the models load: a wrong database fails in a second, not after a download.
        async with pool.acquire() as conn:
            await ensure_schema(conn, dimension=settings.embedding_dimension)
            ranking = await lexical_ranking(conn)
            halfvec = await halfvec_indexes(conn)
        if halfvec != (VECTOR_COLUMNS if settings.hnsw_storage == "halfvec" else frozenset()):
            # Searches follow the indexes there are; the setting is the migrations'.
            log.warning(
                "hnsw_storage_differs",
                hnsw_storage=settings.hnsw_storage,
                halfvec_indexes=sorted(halfvec),
                hint="`make hnsw-storage` rebuilds the HNSW indexes as HNSW_STORAGE says",
            )
        if settings.search_lexical_ranking == "ts_rank":
            ranking = "ts_rank"
            log.info("lexical_ranking_chosen", lexical_ranking=ranking)
        elif ranking != "bm25":
            log.warning("lexical_ranking_fallback", lexical_ranking=ranking, hint=BM25_HINT)
        if embedders is None:
            owned = await asyncio.to_thread(build_embedders, settings, metrics)
        active = embedders or owned
        assert active is not None
        await active.start()
        metrics.set_build_info(
            text_model=active.text.model_name,
            code_model=active.code.model_name,
            dimension=active.text.dimension,
        )
        if settings.read_database_url:
            replicas = await open_replicas(pool, settings, metrics)
            polling = asyncio.create_task(replicas.run(stop_polling), name="read-replicas")
        yield Runtime(
            settings=settings,
            database_url=url,
            pool=pool,
            database=Database(pool, metrics, replicas=replicas),
            embedders=active,
            metrics=metrics,
            lexical_ranking=ranking,
            halfvec_indexes=halfvec,
        )
    finally:
        stop_polling.set()
        if polling is not None:
            await polling
        if replicas is not None:
            for replica in replicas.replicas:
                await replica.pool.close()
        if owned is not None:
            await owned.aclose()
        await pool.close()


async def open_replicas(
    primary: asyncpg.Pool, settings: Settings, metrics: Metrics
) -> ReadReplicas:
    """A pool per READ_DATABASE_URL, opened lazily (a standby that is down does not stop the
    start), and their first poll, so that reads use them from the first request."""
    replicas = [
        Replica(
            name=f"replica-{number}",
            url=redact_password(url),
            pool=await create_pool(url, settings, min_size=0),
        )
        for number, url in enumerate(settings.read_database_url, start=1)
    ]
    reading = ReadReplicas(
        primary,
        replicas,
        max_lag_seconds=settings.read_replica_max_lag_seconds,
        poll_seconds=settings.read_replica_poll_seconds,
        metrics=metrics,
    )
    await reading.poll()
    for replica in replicas:
        log.info("read_replica", replica=replica.name, url=replica.url, up=replica.up)
    return reading
