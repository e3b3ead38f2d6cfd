"""`python -m workers`: a process that runs background index jobs (the compose `worker`), and
the purge of expired events (api/memory/events/expiry.py) as the API does.

It starts like the API (api.startup: pool, schema check, models) and uses the same services.
Set INDEX_WORKER_IN_PROCESS=false on the API when workers run separately; both may run at once
(jobs are claimed with SKIP LOCKED). On SIGTERM/SIGINT the job in progress goes back to the
queue after its current batch; a worker killed outright leaves its job to be resumed by another
once its lease lapses.
"""

import asyncio
import os
import signal
import socket

import structlog

from api.code.index.parsing import ParsePool
from api.code.jobs import worker as index_worker
from api.core.config import Settings, get_settings
from api.core.log_setup import configure_logging
from api.memory.events import expiry
from api.startup import started

log = structlog.get_logger(__name__)


async def run(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        # Refuses a database behind head like the API does: the jobs run the same queries.
        async with started(settings) as runtime:
            parser = ParsePool(
                workers=settings.code_index_parse_workers,
                file_timeout=settings.code_index_file_timeout_seconds,
                max_file_chunks=settings.code_index_max_file_chunks,
            )
            name = f"worker-{socket.gethostname()}-{os.getpid()}"
            log.info("worker_started", worker=name, database=runtime.redacted_url)
            purge = expiry.start(runtime.database, stop, settings, runtime.metrics)
            try:
                await index_worker.work(
                    runtime.database,
                    runtime.embedders,
                    stop,
                    worker=name,
                    poll_seconds=settings.index_worker_poll_seconds,
                    max_file_bytes=settings.code_index_max_file_bytes,
                    max_code_chunks=settings.tenant_max_code_chunks,
                    parser=parser,
                )
            finally:
                stop.set()
                if purge is not None:
                    await purge
                await parser.aclose()
                log.info("worker_stopped", worker=name)
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
