"""The `make run` process: embedded database, migrations, serving, data kept, clean stop."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from api.core.local_postgres import _forget_dead_handles
from scripts.serve import spawn
from tests.support.servers import free_port, postgres_running

ROOT = Path(__file__).resolve().parents[2]


def start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    # An empty DATABASE_URL counts as unset: the embedded server under DATA_DIR.
    env = {"DATA_DIR": str(data_dir), "DATABASE_URL": "", "EMBEDDING_MODE": "mock"}
    return spawn({**env, "LOG_LEVEL": "warning"}, port=port)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def test_data_survives_restart_and_sigterm_stops_the_database(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    server = start(data_dir, port)
    try:
        created = httpx.post(
            f"http://127.0.0.1:{port}/v1/events", json={"content": {"text": "remember me"}}
        )
        assert created.status_code == 201
    finally:
        stop(server)
    assert not postgres_running(data_dir / "postgres")

    server = start(data_dir, port)
    try:
        again = httpx.get(f"http://127.0.0.1:{port}/v1/events/{created.json()['id']}")
        assert again.status_code == 200
        assert again.json()["content"] == {"text": "remember me"}
    finally:
        stop(server)
    assert not postgres_running(data_dir / "postgres")


def test_handles_of_dead_processes_are_forgotten(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    handles = tmp_path / ".handle_pids.json"
    handles.write_text(json.dumps([os.getpid(), dead.pid]))
    _forget_dead_handles(tmp_path)
    assert json.loads(handles.read_text()) == [os.getpid()]
