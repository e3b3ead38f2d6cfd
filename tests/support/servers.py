"""The app under a real uvicorn process, for tests that need a server on a port (a browser, an
MCP client, the Docker command's logging)."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_running(data_dir: Path) -> bool:
    """Whether a postgres process serves `data_dir` (a stopped server must leave none)."""
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(data_dir) in " ".join(
            process.info["cmdline"] or []
        ):
            return True
    return False


def wait_until_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readiness", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server at {url} was not ready in {timeout} s")


@contextlib.contextmanager
def uvicorn_server(database_url: str, log_path: Path, **settings: str) -> Iterator[str]:
    """`uvicorn api.main:app` on a free port over `database_url`, mock embeddings and
    `settings` (environment variables); yields its URL and stops it on exit.

    Its in-process index worker is off unless `settings` turns it on: it would take the jobs
    that other tests queue for their own app.
    """
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EMBEDDING_MODE": "mock",
        "INDEX_WORKER_IN_PROCESS": "false",
        "LOG_LEVEL": "warning",
        **settings,
    }
    command = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1"]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*command, "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(url, server)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)
