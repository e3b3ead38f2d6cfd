"""Build a repository's code graph from its chunks: pure logic, no database.

Nodes are the chunks (functions, methods, classes), one module node per file, and external
nodes for what the repository does not define. Edges:

- `contains`: module -> its top-level units, class -> its methods;
- `calls`: resolved, in order, to a `self`/`this` method of the caller's class, a unit of the
  same file, an imported symbol defined in the repository, or a name unique in the repository;
  otherwise to an external node named by the callee;
- `inherits`: class -> the base classes named in its signature (resolved like calls);
- `imports`: module -> the repository units it imports by name, or an external node.

Building costs time linear in the chunks and their calls: each lookup is a dictionary's (a
name defined in thousands of places must not make every call to it scan them all), and base
classes are read from a signature by string logic that cannot backtrack.
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

SELF_PREFIXES = ("self.", "this.", "$this.", "self::", "static::", "this->", "$this->")
# Linear: matched at the start only, and no two neighbouring parts match a same character.
PYTHON_BASES = re.compile(r"class\s+\w+\s*\(([^)]*)\)")
RUBY_BASE = re.compile(r"<\s*([\w:]+)")
HERITAGE = re.compile(r"\b(?:extends|implements)\b")
BASE_NAME = re.compile(r"[\w.:]+")
MODIFIERS = frozenset({"public", "protected", "private", "virtual"})
# A class header longer than this names no further base (the rest is not read).
MAX_SIGNATURE_CHARS = 50_000
OPENERS, CLOSERS = "<([", ">)]"


@dataclass(frozen=True)
class ChunkInfo:
    id: str
    kind: str
    name: str
    qualified_name: str
    file_path: str
    language: str
    metadata: dict[str, Any]


@dataclass
class Graph:
    # key -> (kind, name, qualified_name, file_path, chunk_id or None)
    nodes: dict[str, tuple[str, str, str, str | None, str | None]] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)  # (source, target, relation)


class _Units:
    """The repository's units by name, file by file, for constant-time lookups."""

    def __init__(self, units: list[ChunkInfo]) -> None:
        self.count: dict[str, int] = defaultdict(int)
        # name -> file -> the units of that name in that file (all of them; not methods)
        self.files: dict[str, dict[str, list[ChunkInfo]]] = defaultdict(dict)
        self.top_level: dict[str, dict[str, list[ChunkInfo]]] = defaultdict(dict)
        self.top_level_count: dict[str, int] = defaultdict(int)
        # a path component (`retry` in app/retry.py) -> the files with it in their path
        self.component_files: dict[str, set[str]] = defaultdict(set)
        self.first: dict[str, ChunkInfo] = {}
        for unit in units:
            self.count[unit.name] += 1
            self.first.setdefault(unit.name, unit)
            self.files[unit.name].setdefault(unit.file_path, []).append(unit)
            if unit.kind != "method":
                self.top_level_count[unit.name] += 1
                self.top_level[unit.name].setdefault(unit.file_path, []).append(unit)
        for path in {unit.file_path for unit in units}:
            for component in re.split(r"[/.]", path):
                self.component_files[component].add(path)

    def only(self, name: str) -> ChunkInfo | None:
        return self.first[name] if self.count.get(name) == 1 else None

    def only_in(self, name: str, path: str) -> ChunkInfo | None:
        found = self.files[name].get(path, []) if name in self.files else []
        return found[0] if len(found) == 1 else None

    def only_elsewhere(self, name: str, path: str) -> ChunkInfo | None:
        """The one top-level unit of that name outside `path`, if there is exactly one."""
        by_file = self.top_level.get(name, {})
        if self.top_level_count.get(name, 0) - len(by_file.get(path, [])) != 1:
            return None
        # Exactly one lies elsewhere: at most two files hold the name.
        return next(found[0] for file, found in by_file.items() if file != path)

    def only_under(self, name: str, component: str) -> ChunkInfo | None:
        """The one unit of that name in a file whose path has `component`, if exactly one."""
        by_file = self.files.get(name, {})
        files = self.component_files.get(component, set())
        smaller, other = (by_file, files) if len(by_file) <= len(files) else (files, by_file)
        found: list[ChunkInfo] = []
        for path in smaller:
            if path in other:
                found += by_file[path]
                if len(found) > 1:
                    return None
        return found[0] if found else None


def build_graph(chunks: list[ChunkInfo]) -> Graph:
    graph = Graph()
    units = [c for c in chunks if c.kind in ("function", "method", "class")]
    by_name = _Units(units)
    by_qualified: dict[tuple[str, str], ChunkInfo] = {}
    for unit in units:
        graph.nodes[unit.id] = (unit.kind, unit.name, unit.qualified_name, unit.file_path, unit.id)
        by_qualified.setdefault((unit.file_path, unit.qualified_name), unit)
    imports_by_file: dict[str, set[str]] = defaultdict(set)
    for chunk in chunks:
        imports_by_file[chunk.file_path].update(chunk.metadata.get("imports") or [])
    for path in sorted({c.file_path for c in chunks}):
        graph.nodes[f"module:{path}"] = ("module", path.rsplit("/", 1)[-1], path, path, None)

    def external(name: str) -> str:
        key = f"external:{name}"
        graph.nodes.setdefault(key, ("external", name.rsplit(".", 1)[-1], name, None, None))
        return key

    def resolve(caller: ChunkInfo, callee: str) -> str:
        for prefix in SELF_PREFIXES:
            if callee.startswith(prefix):
                owner = caller.qualified_name.rsplit(".", 1)[0]
                method = callee[len(prefix) :].split(".")[0].split("(")[0]
                match = by_qualified.get((caller.file_path, f"{owner}.{method}"))
                if match is not None:
                    return match.id
                break
        parts = re.split(r"::|\.|->", callee)
        name, head = parts[-1], parts[0]
        imported = imports_by_file[caller.file_path]
        if len(parts) > 1 and head in imported:
            # `requests.get`: an imported module; only a repository file of that name counts.
            found = by_name.only_under(name, head)
            return found.id if found is not None else external(callee)
        found = by_name.only_in(name, caller.file_path)
        if found is None and name in imported:
            # What a file imports by name is a top-level unit, never some class's method.
            found = by_name.only_elsewhere(name, caller.file_path)
        if found is None:
            found = by_name.only(name)
        return found.id if found is not None else external(callee)

    for unit in units:
        owner_key = (unit.file_path, unit.qualified_name.rsplit(".", 1)[0])
        owner = by_qualified.get(owner_key) if "." in unit.qualified_name else None
        if unit.kind == "method" and owner is not None and owner.kind == "class":
            graph.edges.add((owner.id, unit.id, "contains"))
        else:
            graph.edges.add((f"module:{unit.file_path}", unit.id, "contains"))
        for callee in unit.metadata.get("calls") or []:
            target = resolve(unit, callee)
            if target != unit.id:
                graph.edges.add((unit.id, target, "calls"))
        if unit.kind == "class":
            for base in base_classes(unit.metadata.get("signature") or "", unit.language):
                graph.edges.add((unit.id, resolve(unit, base), "inherits"))

    for path, names in imports_by_file.items():
        for name in sorted(names):
            match = by_name.only(name)
            target = match.id if match is not None else external(name)
            graph.edges.add((f"module:{path}", target, "imports"))
    return graph


def base_classes(signature: str, language: str) -> list[str]:
    """Base class names in a class signature (`class A(B, C)`, `extends B`, `: public B`)."""
    signature = signature[:MAX_SIGNATURE_CHARS]
    text = ""
    if language == "python":
        found = PYTHON_BASES.match(signature)
        text = found.group(1) if found else ""
    elif language == "ruby":
        found = RUBY_BASE.search(signature)
        text = found.group(1) if found else ""
    elif language in ("cpp", "csharp"):
        text = _after_single_colon(signature)
    if not text:
        text = ",".join(_heritage_lists(signature))
    bases = []
    for part in _top_level_parts(text):
        # `public Base<T>`, `metaclass=Meta`, `B where T : new()`: the first plain name.
        words = part.split("<", 1)[0].split("[", 1)[0].split("=", 1)[0].split()
        while words and words[0] in MODIFIERS:
            words.pop(0)
        name = words[0] if words else ""
        if BASE_NAME.fullmatch(name) and name not in ("object", "metaclass"):
            bases.append(name)
    return bases


def _after_single_colon(signature: str) -> str:
    """What follows the first `:` that is not half of a `::` (C++ and C# base lists)."""
    at = signature.find(":")
    while at >= 0:
        if signature.startswith("::", at):
            at = signature.find(":", at + 2)
            continue
        return signature[at + 1 :]
    return ""


def _heritage_lists(signature: str) -> list[str]:
    """The lists after each `extends` or `implements` outside type parameters (`<T extends
    B>` bounds a parameter), each up to the next such keyword or `{`."""
    keywords, depth, scanned = [], 0, 0
    for found in HERITAGE.finditer(signature):
        between = signature[scanned : found.start()]
        depth = max(depth + between.count("<") - between.count(">"), 0)
        scanned = found.start()
        if depth == 0:
            keywords.append(found)
    lists = []
    for at, keyword in enumerate(keywords):
        until = keywords[at + 1].start() if at + 1 < len(keywords) else len(signature)
        lists.append(signature[keyword.end() : until].split("{", 1)[0])
    return lists


def _top_level_parts(text: str) -> list[str]:
    """Split at the commas outside brackets: `Map<K, V>, B` -> [`Map<K, V>`, ` B`]."""
    parts, depth, start = [], 0, 0
    for at, char in enumerate(text):
        if char in OPENERS:
            depth += 1
        elif char in CLOSERS:
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            parts.append(text[start:at])
            start = at + 1
    parts.append(text[start:])
    return parts
