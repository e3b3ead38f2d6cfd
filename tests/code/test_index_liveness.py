"""Indexing cannot starve the API: while a file that takes seconds to parse is being indexed
(through POST /v1/code/index and through an index job), health, search and writes answer
within a second, and the file is reported once past CODE_INDEX_FILE_TIMEOUT_SECONDS, its
parsing process killed.

A real uvicorn server, since the point is what one process does for others while it parses.
"""

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.code.index.parsing import CHILD_COMMAND
from tests.support.servers import uvicorn_server

API_KEY = "liveness-key"
HEADERS = {"Authorization": f"Bearer {API_KEY}"}
LIMIT_SECONDS = 0.5
PROBE_BOUND_SECONDS = 1.0
REASON = f"parsing took longer than {LIMIT_SECONDS:g} s (CODE_INDEX_FILE_TIMEOUT_SECONDS)"


def expensive_file() -> str:
    """A genuine, legal Python file that takes seconds to chunk and describe (2.2 s of CPU
    here): 1,100 functions of 10 branches each, 870 KB (under CODE_INDEX_MAX_FILE_BYTES and
    CODE_INDEX_MAX_FILE_CHUNKS)."""
    branches = "".join(
        f"    if request.ok and retries > {j}:\n        value = step_{j}(request, value)\n"
        for j in range(10)
    )
    return "".join(
        f"def handler_{i}(request, retries=3):\n{branches}    return value\n" for i in range(1100)
    )


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("liveness") / "server.log"
    settings = {
        "API_KEY": API_KEY,
        "CODE_INDEX_FILE_TIMEOUT_SECONDS": str(LIMIT_SECONDS),
        "INDEX_WORKER_IN_PROCESS": "true",
        "INDEX_WORKER_POLL_SECONDS": "0.1",
    }
    with uvicorn_server(database_url, log, **settings) as url:
        yield url


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can see."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        found[int(entry.name)] = (parent, command)
    return found


def parse_children(url: str) -> set[int]:
    port = url.rsplit(":", 1)[1]
    table = processes()
    servers = {pid for pid, (_, cmd) in table.items() if "uvicorn" in cmd and f" {port}" in cmd}
    assert servers, "the uvicorn process is not visible"
    return {
        pid for pid, (parent, cmd) in table.items() if parent in servers and CHILD_COMMAND in cmd
    }


class Probes(threading.Thread):
    """Health, an events search, a code search and an event write, in turn, timed."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.timings: list[tuple[str, float, int]] = []

    def run(self) -> None:
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "/health", {}),
            ("GET", "/readiness", {}),
            ("GET", "/v1/search", {"params": {"q": "handler"}}),
            ("POST", "/v1/code/search/lexical", {"json": {"query": "handler"}}),
            ("POST", "/v1/events", {"json": {"content": {"text": "still writing"}}}),
        ]
        with httpx.Client(base_url=self.url, headers=HEADERS, timeout=30) as http:
            while not self.stop.is_set():
                for method, path, options in calls:
                    started = time.perf_counter()
                    reply = http.request(method, path, **options)
                    self.timings.append((path, time.perf_counter() - started, reply.status_code))
                time.sleep(0.05)

    def __enter__(self) -> "Probes":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(timeout=30)


def assert_answered_in_time(probes: Probes) -> None:
    assert len(probes.timings) >= 8, "the probes ran while the file was parsed"
    slowest = max(probes.timings, key=lambda timing: timing[1])
    assert slowest[1] < PROBE_BOUND_SECONDS, f"{slowest[0]} took {slowest[1]:.2f} s"
    assert {status for _, _, status in probes.timings} <= {200, 201}, probes.timings


def warm_up(http: httpx.Client) -> set[int]:
    """Index one small file (which starts the parsing process); its pid."""
    reply = http.post(
        "/v1/code/index",
        json={"repository": "warm", "files": [{"path": "a.py", "content": "def a():\n    b()\n"}]},
    )
    assert reply.status_code == 201, reply.text
    return parse_children(str(http.base_url).rstrip("/"))


def test_rest_indexing_of_a_slow_file_does_not_stall_the_api(server):
    files = [
        {"path": "slow/handlers.py", "content": expensive_file()},
        {"path": "fast/util.py", "content": "def util():\n    return 1\n"},
    ]
    with httpx.Client(base_url=server, headers=HEADERS, timeout=120) as http:
        before = warm_up(http)
        assert len(before) == 1
        with Probes(server) as probes:
            started = time.perf_counter()
            reply = http.post("/v1/code/index", json={"repository": "slow", "files": files})
            elapsed = time.perf_counter() - started
        after = parse_children(server)
    assert reply.status_code == 201, reply.text
    result = reply.json()
    assert result["errors"] == [{"file": "slow/handlers.py", "error": REASON}]
    assert result["failed_files"] == 1 and result["indexed_files"] == 1
    assert elapsed < LIMIT_SECONDS + 10  # the limit, a fresh process, the small file
    assert_answered_in_time(probes)
    # The overdue process was killed (not left to burn a core), and another took its place.
    assert len(after) == 1 and not (before & after)
    for pid in before:
        assert not os.path.exists(f"/proc/{pid}")


def test_an_index_job_with_a_slow_file_does_not_stall_the_api(server):
    files = [
        {"path": "fast/a.py", "content": "def a():\n    return b()\n"},
        {"path": "slow/handlers.py", "content": expensive_file()},
        {"path": "fast/b.py", "content": "def b():\n    return 2\n"},
    ]
    with httpx.Client(base_url=server, headers=HEADERS, timeout=120) as http:
        queued = http.post("/v1/code/index/jobs", json={"repository": "job", "files": files})
        assert queued.status_code == 202, queued.text
        job_id = queued.json()["id"]
        with Probes(server) as probes:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                job = http.get(f"/v1/code/index/jobs/{job_id}").json()
                if job["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert job["errors"] == [{"file": "slow/handlers.py", "error": REASON}]
    assert job["result"]["indexed_files"] == 2 and job["result"]["failed_files"] == 1
    assert_answered_in_time(probes)
