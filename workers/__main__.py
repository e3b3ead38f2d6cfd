"""`python -m workers`: a process that runs background index jobs (the compose `worker`).

It uses the same services and repositories as the API. Set INDEX_WORKER_IN_PROCESS=false on the
API when workers run separately; both may run at once (jobs are claimed with SKIP LOCKED).
On SIGTERM/SIGINT the job in progress goes back to the queue after its current batch; a worker
killed outright leaves its job to be resumed by another once its lease lapses.
"""

import asyncio
import os
import signal
import socket

import structlog

from api.code.index.parsing import ParsePool
from api.code.jobs import worker as index_worker
from api.core.config import get_settings
from api.core.database import create_pool, resolve_database_url
from api.core.log_setup import configure_logging
from api.embeddings.factory import build_embedders

log = structlog.get_logger(__name__)


async def run() -> None:
    settings = get_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    url = await asyncio.to_thread(resolve_database_url, settings)
    pool = await create_pool(url, settings)
    embedders = await asyncio.to_thread(build_embedders, settings)
    await embedders.start()
    parser = ParsePool(
        workers=settings.code_index_parse_workers,
        file_timeout=settings.code_index_file_timeout_seconds,
        max_file_chunks=settings.code_index_max_file_chunks,
    )
    name = f"worker-{socket.gethostname()}-{os.getpid()}"
    log.info("worker_started", worker=name)
    try:
        await index_worker.work(
            pool,
            embedders,
            stop,
            worker=name,
            poll_seconds=settings.index_worker_poll_seconds,
            max_file_bytes=settings.code_index_max_file_bytes,
            parser=parser,
        )
    finally:
        await parser.aclose()
        await embedders.aclose()
        await pool.close()
        log.info("worker_stopped", worker=name)


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run())


if __name__ == "__main__":
    main()
