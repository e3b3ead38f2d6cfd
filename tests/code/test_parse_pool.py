"""The parse pool: files parsed in child processes, an overdue one killed and replaced."""

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest

from api.code.index.parsing import ParsedFile, ParseFailure, ParsePool, ParseTask, parse_file

LIMIT = 0.5
REASON = "parsing took longer than 0.5 s (CODE_INDEX_FILE_TIMEOUT_SECONDS)"
SMALL = ParseTask("util.py", 'def util(x):\n    """Help."""\n    return helper(x)\n')
# tree-sitter's Java grammar takes about 10 s on this 80 KB chain (and does not look at its
# own clock meanwhile): only killing the process stops it.
SLOW = ParseTask("Chain.java", "class A { void f() { x = " + "a <\n" * 20000 + "; } }")


@pytest.fixture
async def pool() -> AsyncIterator[ParsePool]:
    parsers = ParsePool(workers=1, file_timeout=LIMIT)
    yield parsers
    await parsers.aclose()


def alive(pid: int) -> bool:
    """Running (a process killed but not yet waited for is a zombie: dead)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_outcomes_are_those_of_parsing_in_process(pool):
    skipped = ParseTask("logo.png", "\x00binary")
    broken = ParseTask("bad.py", "\ud800 = 1\n")  # not encodable: this file's own error
    outcomes = await pool.parse([SMALL, skipped, broken])
    assert outcomes[:2] == [parse_file(SMALL), parse_file(skipped)]
    assert isinstance(outcomes[0], ParsedFile) and outcomes[0].chunks[0].name == "util"
    assert outcomes[0].fields[0][0] == "util"
    assert isinstance(outcomes[2], ParseFailure) and "could not parse" in outcomes[2].error


async def test_an_overdue_file_is_reported_and_its_process_killed(pool):
    [before] = (await pool.parse([SMALL]), pool.pids())[1]
    started = time.monotonic()
    slow, small = await pool.parse([SLOW, SMALL])
    elapsed = time.monotonic() - started
    assert slow == ParseFailure("Chain.java", REASON)
    assert isinstance(small, ParsedFile)  # the next file, in a fresh process
    assert elapsed < LIMIT + 5
    assert not alive(before)
    [after] = pool.pids()
    assert after != before and alive(after)


async def test_a_process_that_dies_is_replaced(pool):
    [first] = (await pool.parse([SMALL]), pool.pids())[1]
    os.kill(first, signal.SIGKILL)  # the system's OOM killer, say
    for _ in range(500):
        if not alive(first):
            break
        await asyncio.sleep(0.01)
    [outcome] = await pool.parse([SMALL])
    assert isinstance(outcome, ParsedFile)
    assert pool.pids() and first not in pool.pids()


async def test_closing_stops_a_busy_process():
    parsers = ParsePool(workers=1, file_timeout=60)
    await parsers.parse([SMALL])
    [pid] = parsers.pids()
    busy = asyncio.create_task(parsers.parse([SLOW]))
    await asyncio.sleep(0.3)
    await parsers.aclose()
    [outcome] = await asyncio.wait_for(busy, timeout=10)
    assert isinstance(outcome, ParseFailure)
    assert not alive(pid) and parsers.pids() == []


async def test_concurrent_calls_take_turns_file_by_file(pool):
    """A call with many files does not hold the only process until all of them are done."""
    finished: list[str] = []

    async def index(name: str, count: int) -> None:
        tasks = [ParseTask(f"{name}{i}.py", f"def {name}{i}():\n    pass\n") for i in range(count)]
        await pool.parse(tasks)
        finished.append(name)

    await pool.parse([SMALL])  # the process is up
    big = asyncio.create_task(index("big", 300))
    await asyncio.sleep(0.05)
    await index("small", 1)
    assert finished == ["small"]  # done while the big call still had files to go
    await big
