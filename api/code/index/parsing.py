"""Parse files in worker processes, each under a time limit, so that no file can starve the API.

tree-sitter and the Python walkers hold the GIL: a file that takes seconds to parse in the API's
process (even in a thread) freezes every request meanwhile. Here each file is parsed, chunked and
given its search words in a child process. A file that takes longer than the limit has its
process killed (a timeout on the wait alone would leave it burning a core) and replaced, and is
reported with the reason; the other files go on.

A child is a fresh interpreter (`python -c`), never a `fork`: the API's process has threads
(asyncio's, asyncpg's, the embedders') that a forked child would inherit in the middle of
holding locks. Not multiprocessing's `spawn` either, which runs the parent's main script again
in each child (a script without a `__main__` guard would start itself once per child). And not
a ProcessPoolExecutor: it cannot stop one overdue call (`cancel()` leaves a running call
running), and killing one of its processes breaks the whole executor, failing every other file
in flight. Each thread of a small thread pool owns one child instead and talks to it over its
stdin and stdout; tasks and outcomes cross them as pickles of plain data.
"""

import asyncio
import contextlib
import contextvars
import ctypes
import functools
import os
import pickle
import selectors
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import structlog

from api.code.index.chunking import MAX_FILE_BYTES, MAX_FILE_CHUNKS, Chunk, Skipped, chunk_file
from api.code.index.texts import search_fields

log = structlog.get_logger(__name__)

DEFAULT_FILE_TIMEOUT = 10.0
DEFAULT_WORKERS = 1
# Starting a child (spawn, imports, grammars) is not the file's time: it has a limit of its own.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0
# tree-sitter gets this share of a file's time limit; past it the file is cut into line windows
# (still searchable), and the rest of the time is for the walkers, which are linear.
TREE_SITTER_SHARE = 0.5
NICENESS = 5
READY = "ready"
MAX_ERROR_CHARS = 300
CHILD_COMMAND = "import sys; from api.code.index.parsing import serve; serve(int(sys.argv[1]))"
PR_SET_PDEATHSIG = 1  # Linux's prctl option
HEADER = struct.Struct("!Q")  # a message's length, before its pickle
# The directory that holds the `api` package, for the child's imports wherever it starts.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])


@dataclass(frozen=True)
class ParseTask:
    path: str
    content: str
    language: str | None = None
    max_bytes: int = MAX_FILE_BYTES
    extract_metadata: bool = True
    # Set by the pool, from its own limits:
    parse_timeout: float | None = None  # tree-sitter's budget
    max_chunks: int = MAX_FILE_CHUNKS


@dataclass
class ParsedFile:
    chunks: list[Chunk]
    fields: list[tuple[str, str, str]]  # each chunk's search words: name, doc, body


@dataclass(frozen=True)
class ParseFailure:
    file_path: str
    error: str


Outcome = ParsedFile | Skipped | ParseFailure


def parse_file(task: ParseTask) -> Outcome:
    """Chunk one file and compute its chunks' search words (what a child runs for each file)."""
    try:
        result = chunk_file(
            task.path,
            task.content,
            language=task.language,
            max_bytes=task.max_bytes,
            max_chunks=task.max_chunks,
            parse_timeout=task.parse_timeout,
        )
        if isinstance(result, Skipped):
            return result
        if not task.extract_metadata:
            for chunk in result:
                chunk.metadata = {}
        return ParsedFile(result, [search_fields(chunk) for chunk in result])
    except Exception as exc:  # a parser failure is this file's problem, not the request's
        return ParseFailure(task.path, f"could not parse: {exc}"[:MAX_ERROR_CHARS])


def serve(parent: int) -> None:
    """A child's loop: parse each task read from stdin, write its outcome to stdout, until
    stdin closes (the parent stopped it, or died)."""
    _die_with(parent)
    requests, replies = os.dup(0), os.dup(1)
    # Nothing else the child prints may reach the channel (or the MCP stdio transport the parent
    # may speak on its own stdout), and Ctrl-C is the parent's to handle: it stops its children.
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # When cores are short, the API's own requests come first.
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    from api.code.index.languages import SPECS, parser_for

    for spec in SPECS:  # load the grammars before any file's clock starts
        parser_for(spec)
    _send(replies, READY)
    while True:
        try:
            task = _receive(requests)
        except (EOFError, OSError):
            return
        outcome = parse_file(task)
        try:
            _send(replies, outcome)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            # An outcome that does not pickle is reported, not lost.
            _send(replies, ParseFailure(task.path, f"could not return the parse: {exc}"))
        except OSError:
            return


def _die_with(parent: int) -> None:
    """Linux kills this process if the parent dies (the pipe's end of file alone would come
    only after the file in hand, which may take minutes); elsewhere, the pipe it is."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before that took effect
        os._exit(0)


def _send(fd: int, message: object) -> None:
    """One message: its length, then its pickle (made whole before anything is written)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int) -> Any:
    (size,) = HEADER.unpack(_read_exactly(fd, HEADER.size))
    return pickle.loads(_read_exactly(fd, size))


def _read_exactly(fd: int, size: int) -> bytes:
    parts, missing = [], size
    while missing:
        part = os.read(fd, min(missing, 1 << 20))
        if not part:
            raise EOFError("the other end closed the pipe")
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


class _Child:
    """One worker process and the parent's ends of its pipes."""

    def __init__(self) -> None:
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [PACKAGE_ROOT, path]))}
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD_COMMAND, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,  # raw pipes: waiting on them sees every byte that has arrived
            env=env,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests = self.process.stdin
        self.replies = self.process.stdout

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float) -> bool:
        try:
            return self._wait(timeout) and _receive(self.replies.fileno()) == READY
        except (EOFError, OSError, pickle.UnpicklingError):
            return False

    def run(self, task: ParseTask, timeout: float) -> Outcome | None:
        """The task's outcome, or None when it took longer than `timeout` seconds.

        Raises EOFError, OSError or UnpicklingError when the process died (crashed, or was
        killed by the system) before answering in full.
        """
        _send(self.requests.fileno(), task)
        if not self._wait(timeout):
            return None
        outcome: Outcome = _receive(self.replies.fileno())
        return outcome

    def _wait(self, timeout: float) -> bool:
        """Whether the child has started to answer (or died) within `timeout` seconds."""
        with selectors.DefaultSelector() as selector:  # not select(): fds past 1024 exist
            selector.register(self.replies, selectors.EVENT_READ)
            return bool(selector.select(timeout))

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.error("code_parser_not_stopped", pid=self.process.pid)
        for stream in (self.requests, self.replies):
            with contextlib.suppress(OSError):
                stream.close()


class ParsePool:
    """At most `workers` files parsed at once, each in a child process, within `file_timeout`,
    into at most `max_file_chunks` chunks.

    Children start on first use and after a kill; `aclose()` stops them. Not bound to an event
    loop: one pool serves every loop of the process.
    """

    def __init__(
        self,
        *,
        workers: int = DEFAULT_WORKERS,
        file_timeout: float = DEFAULT_FILE_TIMEOUT,
        max_file_chunks: int = MAX_FILE_CHUNKS,
    ) -> None:
        if workers < 1 or file_timeout <= 0 or max_file_chunks < 1:
            raise ValueError("a parse pool needs a worker, a time limit and room for chunks")
        self.workers = workers
        self.file_timeout = file_timeout
        self.max_file_chunks = max_file_chunks
        self._local = threading.local()
        self._lock = threading.Lock()
        self._children: set[_Child] = set()
        self._threads: ThreadPoolExecutor | None = None
        self._closed = False

    async def parse(self, tasks: Sequence[ParseTask]) -> list[Outcome]:
        """Each task's outcome, in order.

        A call keeps at most `workers` of its files in the queue at once, so concurrent calls
        take turns file by file instead of one waiting for all of another's files.
        """
        loop = asyncio.get_running_loop()
        executor = self._executor()
        turns = asyncio.Semaphore(self.workers)

        async def one(task: ParseTask) -> Outcome:
            async with turns:
                # The request's log context (request_id, job_id) follows the file into the thread.
                run = functools.partial(contextvars.copy_context().run, self._run, task)
                return await loop.run_in_executor(executor, run)

        return list(await asyncio.gather(*(one(task) for task in tasks)))

    async def aclose(self) -> None:
        """Stop every child (one busy with a file is killed) and the threads."""
        with self._lock:
            self._closed = True
            children, self._children = list(self._children), set()
            threads, self._threads = self._threads, None
        await asyncio.to_thread(_stop_all, children)
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)

    def pids(self) -> list[int]:
        """The children's process ids (for tests and diagnostics)."""
        with self._lock:
            return sorted(child.process.pid for child in self._children)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the parse pool is closed")
            if self._threads is None:
                self._threads = ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix="parse"
                )
            return self._threads

    def _run(self, task: ParseTask) -> Outcome:
        """In a pool thread: the task's outcome from this thread's child."""
        child = self._child()
        if child is None:
            return ParseFailure(task.path, "the parser did not start; try again")
        task = replace(
            task,
            parse_timeout=self.file_timeout * TREE_SITTER_SHARE,
            max_chunks=self.max_file_chunks,
        )
        try:
            outcome = child.run(task, self.file_timeout)
        except (EOFError, OSError, pickle.UnpicklingError):
            self._discard(child)
            log.warning("code_parser_died", file=task.path, exitcode=child.process.returncode)
            return ParseFailure(task.path, "the parser process died on this file")
        if outcome is None:
            self._discard(child)  # killed: it would go on parsing the file for nobody
            log.warning("code_parse_timeout", file=task.path, limit_s=self.file_timeout)
            return ParseFailure(
                task.path,
                f"parsing took longer than {self.file_timeout:g} s "
                "(CODE_INDEX_FILE_TIMEOUT_SECONDS)",
            )
        return outcome

    def _child(self) -> _Child | None:
        """This thread's child, started (or replaced, if it died) when needed."""
        child: _Child | None = getattr(self._local, "child", None)
        if child is not None and child.alive():
            return child
        if child is not None:
            self._discard(child)
        with self._lock:
            if self._closed:
                return None
        child = _Child()
        with self._lock:
            self._children.add(child)
        if not child.wait_ready(START_TIMEOUT) or self._closed:
            self._discard(child)
            log.error("code_parser_start_failed", exitcode=child.process.returncode)
            return None
        self._local.child = child
        return child

    def _discard(self, child: _Child) -> None:
        with self._lock:
            self._children.discard(child)
        if getattr(self._local, "child", None) is child:
            self._local.child = None
        child.stop()


def _stop_all(children: list[_Child]) -> None:
    for child in children:
        child.stop()


_default: ParsePool | None = None
_default_lock = threading.Lock()


def default_pool() -> ParsePool:
    """The pool of callers that bring none (scripts, tests): default limits, started on first
    use, its children ending with the process. Services given a pool by their entry point (the
    API's lifespan, the worker) never use it."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ParsePool()
        return _default
