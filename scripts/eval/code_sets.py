"""Code sets: installed Python packages that nobody here wrote, docstrings removed.

Each package is one repository, indexed through POST /v1/code/index (its `.py` files, in the
batches `make index` sends). Each function or method whose docstring's first sentence has at
least four words gives a query (that sentence); the answer is that function's chunk, identified
by path and qualified name as the code search API returns them. Queries whose function is nested
in another function (part of its parent's chunk), and sentences shared by several functions of
one package (no single right answer), are left out. Queries search their own repository only.

The split is fixed, by package, so ranking can be tuned on one half and judged on the other
(docs/benchmarks.md, "Retrieval quality"):

- tuning: httpx, urllib3, markdown_it, attr (attrs), platformdirs, sortedcontainers
- test: click, jinja2, packaging, structlog, requests

400 queries a split, an equal share per package; `--small`: 60, from attr (tuning) and
requests (test) alone.
"""

import importlib.metadata
import logging
from pathlib import Path

from scripts.bench.code import package_root
from scripts.eval.client import code_key
from scripts.eval.docstrings import function_units, strip_docstrings
from scripts.eval.sampling import balanced_sample
from scripts.eval.sets import CodeSet, Query
from scripts.index_dir import source_files

log = logging.getLogger("eval")

# Chosen among the pure-Python packages of the project's pinned environment (constraints.txt),
# so every machine with `make install` builds the same sets. About 2,300-2,800 chunks a split.
PACKAGES = {
    "tuning": ("httpx", "urllib3", "markdown_it", "attr", "platformdirs", "sortedcontainers"),
    "test": ("click", "jinja2", "packaging", "structlog", "requests"),
}
SMALL_PACKAGES = {"tuning": ("attr",), "test": ("requests",)}
QUERIES = 400
SMALL_QUERIES = 60


def package_version(package: str) -> str:
    """`click 8.3.1`: the distribution that ships the import package, and its version."""
    for distribution in importlib.metadata.packages_distributions().get(package, []):
        return f"{package} {importlib.metadata.version(distribution)}"
    return package


def package_files(
    package: str,
) -> tuple[list[tuple[str, str]], list[Query], list[tuple[str, str]]]:
    """(files without docstrings, candidate queries, BM25 documents) of one installed package."""
    root: Path = package_root(package)
    files: list[tuple[str, str]] = []
    queries: list[Query] = []
    documents: list[tuple[str, str]] = []
    sentences: dict[str, list[str]] = {}
    for relative, text in source_files(root):
        if not relative.endswith(".py"):
            continue
        path = f"{package}/{relative}"
        try:
            stripped, found = strip_docstrings(text)
        except SyntaxError:
            log.warning("%s does not parse: indexed as it is, no queries", path)
            files.append((path, text))
            continue
        files.append((path, stripped))
        units = function_units(stripped)
        documents += [(code_key(path, unit.qualified_name), unit.source) for unit in units]
        chunked = {unit.qualified_name for unit in units}
        for name, sentence in found.items():
            if name in chunked:
                sentences.setdefault(sentence, []).append(code_key(path, name))
    for sentence, keys in sentences.items():
        if len(keys) == 1:
            queries.append(Query(sentence, package, frozenset(keys)))
    return files, queries, documents


def code_set(split: str, *, small: bool = False) -> CodeSet:
    packages = (SMALL_PACKAGES if small else PACKAGES)[split]
    loaded = {package: package_files(package) for package in packages}
    candidates = {package: queries for package, (_, queries, _) in loaded.items()}
    return CodeSet(
        kind="code",
        split=split,
        sources=[package_version(package) for package in packages],
        queries=balanced_sample(candidates, SMALL_QUERIES if small else QUERIES),
        documents={package: documents for package, (_, _, documents) in loaded.items()},
        files={package: files for package, (files, _, _) in loaded.items()},
    )
