"""The index job worker: run queued jobs until told to stop (`python -m workers` and the
API's in-process worker both run this loop), of every tenant, each job as its own tenant."""

import asyncio
import contextlib

import structlog

from api.code.index.chunking import MAX_FILE_BYTES
from api.code.index.parsing import ParsePool
from api.code.jobs.service import LEASES, UNAVAILABLE, LeasePolicy, run_next
from api.core.database import Database
from api.core.metrics import Metrics
from api.embeddings.factory import Embedders

log = structlog.get_logger(__name__)


async def work(
    database: Database,
    embedders: Embedders,
    stop: asyncio.Event,
    *,
    worker: str,
    poll_seconds: float = 1.0,
    metrics: Metrics | None = None,
    policy: LeasePolicy = LEASES,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_code_chunks: int = 0,
    parser: ParsePool | None = None,
) -> None:
    """Run jobs until `stop` is set, polling for new ones every `poll_seconds`.

    A job in progress when `stop` is set goes back to the queue after its current batch.
    `database` lends the connections (its tenant does not matter: each job runs as its own).
    """
    while not stop.is_set():
        try:
            ran = await run_next(
                database,
                embedders,
                worker=worker,
                metrics=metrics,
                policy=policy,
                stop=stop,
                max_file_bytes=max_file_bytes,
                max_code_chunks=max_code_chunks,
                parser=parser,
            )
        except UNAVAILABLE as exc:  # expected during an outage: no traceback
            log.warning("index_worker_database_unavailable", worker=worker, error=repr(exc))
            ran = False
        except Exception:  # the worker must outlive any one failure
            log.exception("index_worker_error", worker=worker)
            ran = False
        if not ran:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
