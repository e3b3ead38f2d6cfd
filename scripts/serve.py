"""`make run`: start the database (embedded unless DATABASE_URL is set), migrate, serve.

The embedded server is stopped when this process exits; its data stays under DATA_DIR.
"""

import signal
from types import FrameType

import uvicorn

from api.config import get_settings
from api.database import resolve_database_url
from api.log_setup import configure_logging
from api.migrations import upgrade


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the signal that stopped it once it has shut down; exiting through
    # SystemExit (not the default kill) runs the atexit hook that stops the embedded server.
    raise SystemExit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    database_url = resolve_database_url(settings)
    upgrade(database_url)

    from api.main import create_app

    app = create_app(settings, database_url=database_url)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
