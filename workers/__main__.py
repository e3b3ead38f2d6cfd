"""`python -m workers`: the background worker process (the compose `worker` service).

No job types exist yet: code-indexing jobs arrive with the code intelligence domain. Until then
the process says so and waits for a stop signal, so a supervisor does not restart it in a loop.
"""

import asyncio
import signal

import structlog

from api.config import get_settings
from api.log_setup import configure_logging

log = structlog.get_logger(__name__)


async def run() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("worker_idle", reason="no background job types are defined yet")
    await stop.wait()
    log.info("worker_stopped")


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run())


if __name__ == "__main__":
    main()
