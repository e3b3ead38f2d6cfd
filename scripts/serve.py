"""`make run`: start the database (embedded unless DATABASE_URL is set), migrate, serve.

A thin shell over `create_app(settings, migrate=True)`: the start-up itself is api.startup's.

The embedded server is stopped when this process exits; its data stays under DATA_DIR.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

import uvicorn

from api.core.config import get_settings
from api.core.log_setup import configure_logging


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the signal that stopped it once it has shut down; exiting through
    # SystemExit (not the default kill) runs the atexit hook that stops the embedded server.
    raise SystemExit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)

    # Imported once logging is configured: importing api.main builds its default app.
    from api.main import create_app

    # The lifespan starts the embedded server (DATABASE_URL unset) and migrates the database
    # before uvicorn binds the port (api.startup.started), so /readiness answers a ready service.
    app = create_app(settings, migrate=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # Logging is configured above (structlog, LOG_FORMAT); uvicorn's dictConfig would undo it,
        # and the app writes its own access log, with the request id.
        log_config=None,
        access_log=False,
        # The app itself believes X-Forwarded-Proto/-For from TRUSTED_PROXIES only (create_app).
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


def spawn(
    env: dict[str, str],
    *,
    port: int,
    timeout: float = 60,
    root: Path | None = None,
    workers: int = 1,
) -> subprocess.Popen[bytes]:
    """Run this script in a child process (benchmarks, tests) and wait until it is ready;
    `root`: another checkout's copy of it (a benchmark's baseline), this one's by default.
    `workers` > 1 runs uvicorn's worker processes instead, as the production compose file does
    (`--workers`; the database must be migrated already)."""
    root = root or Path(__file__).resolve().parent.parent
    child_env = {**os.environ, **env, "PORT": str(port)}
    command = [sys.executable, "-m", "scripts.serve"]
    if workers > 1:
        command = [
            *(sys.executable, "-m", "uvicorn", "api.main:app", "--workers", str(workers)),
            *("--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level"),
            "warning",
        ]
    process = subprocess.Popen(command, cwd=root, env=child_env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readiness", timeout=1) as reply:
                if reply.status == 200:
                    return process
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"the server on port {port} was not ready within {timeout:.0f} s")


if __name__ == "__main__":
    main()
