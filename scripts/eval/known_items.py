"""Known-item set for events: man pages, the one-line summary as the query, the description
as the event.

Each page of the English man pages on this machine gives one event, the text of its
DESCRIPTION section (its first paragraphs, 300-1,000 characters), and one query, the summary of
its NAME line ("open, openat, creat - *open and possibly create a file*"). Why this text: the
summary is written apart from the description, as a paraphrase of what the page is about; it is
never a substring of the event (such pages are left out), and thousands of pages give a large
pool of distractors. Package READMEs (`METADATA`) were the other candidate: of their 1,090
sections only ~280 have a heading specific enough to be a query, many of them code. The summary
seldom names the page (the description usually does, as any text about a thing would).

The split is by man section (so by source: programming interfaces against commands, formats
and overviews), with a deterministic sample of pages in each:

- tuning: sections 1 (commands; not the 16,600 generated `gcloud` pages), 5, 7, 8
- test: sections 2 and 3 (system calls and library functions)

1,500 pages (events) and 400 queries a split; `--small`: 200 and 50. Each split is loaded in its
own session (`session_id`), and its queries search that session only. Where /usr/share/man or
groff is missing, the set is skipped with a message.
"""

import gzip
import logging
import os
import random
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from scripts.eval.sampling import SEED
from scripts.eval.sets import EventSet, Query

log = logging.getLogger("eval")

MAN_DIR = Path("/usr/share/man")
SECTIONS = {"tuning": ("1", "5", "7", "8"), "test": ("2", "3")}
EXCLUDED_PREFIXES = ("gcloud",)
PAGES, QUERIES = 1500, 400
SMALL_PAGES, SMALL_QUERIES = 200, 50
MIN_EVENT_CHARS, MAX_EVENT_CHARS = 300, 1000
MIN_QUERY_WORDS = 3
GROFF = ["groff", "-mandoc", "-t", "-Tutf8", "-rLL=3000n", "-rHY=0", "-P-c", "-P-b", "-P-u"]
_SUMMARY_DASH = re.compile(r"\s[-\u2010-\u2015\u2212]+\s")


def candidates(split: str) -> list[Path]:
    pages = []
    for section in SECTIONS[split]:
        for path in sorted((MAN_DIR / f"man{section}").glob("*")):
            if path.is_file() and not path.name.startswith(EXCLUDED_PREFIXES):
                pages.append(path)
    return pages


def render(path: Path) -> str | None:
    """The page as plain text (one paragraph a line), or None for a `.so` alias or a failure."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    if data.lstrip().startswith(b".so "):
        return None
    try:
        result = subprocess.run(
            GROFF,
            input=data,
            capture_output=True,
            timeout=60,
            check=False,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.decode("utf-8", "replace")


def sections(text: str) -> dict[str, list[str]]:
    """Paragraphs by section heading (headings start at column 0; the first line is a header)."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        if not line.startswith(" "):
            current = found.setdefault(line.strip(), [])
        elif current is not None:
            current.append(" ".join(line.split()))
    return found


def page_entry(path: Path) -> tuple[str, str, str] | None:
    """(page, summary, description) of one man page, or None when it lacks either."""
    text = render(path)
    if text is None:
        return None
    parts = sections(text)
    name = next(iter(parts.get("NAME", [])), "")  # a second paragraph names other commands
    pieces = _SUMMARY_DASH.split(name, maxsplit=1)
    description = parts.get("DESCRIPTION", [])
    if len(pieces) != 2 or not description:
        return None
    summary = pieces[1].strip().rstrip(".")
    event = ""
    for paragraph in description:
        event = f"{event}\n{paragraph}" if event else paragraph
        if len(event) >= MIN_EVENT_CHARS:
            break
    if len(event) > MAX_EVENT_CHARS:
        event = event[:MAX_EVENT_CHARS].rsplit(" ", 1)[0]
    page = path.name.removesuffix(".gz")
    return page, summary, event


def usable(summary: str, event: str) -> bool:
    return len(summary.split()) >= MIN_QUERY_WORDS and summary.casefold() not in event.casefold()


def known_item_set(split: str, *, small: bool = False) -> EventSet | None:
    if not MAN_DIR.is_dir() or shutil.which("groff") is None:
        log.warning("known-item set skipped: no man pages under %s, or no groff", MAN_DIR)
        return None
    pages, query_count = (SMALL_PAGES, SMALL_QUERIES) if small else (PAGES, QUERIES)
    order = candidates(split)
    random.Random(f"{SEED}:{split}").shuffle(order)
    entries: list[tuple[str, str, str]] = []
    seen_events: set[str] = set()
    with ThreadPoolExecutor(max_workers=2) as pool:  # groff runs in its own processes
        for start in range(0, len(order), 100):
            for entry in pool.map(page_entry, order[start : start + 100]):
                if entry is not None and entry[2] not in seen_events:
                    seen_events.add(entry[2])
                    entries.append(entry)
            if len(entries) >= pages:
                break
    entries = entries[:pages]
    scope = f"eval-known-item-{split}"
    summaries = [summary.casefold() for _, summary, _ in entries]
    queries = [
        Query(summary, scope, frozenset({page}))
        for page, summary, event in entries
        if usable(summary, event) and summaries.count(summary.casefold()) == 1
    ][:query_count]
    return EventSet(
        kind="known_item",
        split=split,
        sources=[f"man{section}" for section in SECTIONS[split]],
        queries=queries,
        documents={scope: [(page, event) for page, _, event in entries]},
        events=[
            {
                "content": {"text": event},
                "metadata": {"page": page, "eval": "known_item"},
                "session_id": scope,
            }
            for page, _, event in entries
        ],
        key_field="page",
    )
