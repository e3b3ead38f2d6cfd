"""Build a repository's code graph from its chunks: pure logic, no database.

Nodes are the chunks (functions, methods, classes), one module node per file, and external
nodes for what the repository does not define. Edges:

- `contains`: module -> its top-level units, class -> its methods;
- `calls`: resolved, in order, to a `self`/`this` method of the caller's class, a unit of the
  same file, an imported symbol defined in the repository, or a name unique in the repository;
  otherwise to an external node named by the callee;
- `inherits`: class -> the base classes named in its signature (resolved like calls);
- `imports`: module -> the repository units it imports by name, or an external node.
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

SELF_PREFIXES = ("self.", "this.", "$this.", "self::", "static::", "this->", "$this->")
BASES = {
    "python": re.compile(r"^class\s+\w+\s*\(([^)]*)\)"),
    "ruby": re.compile(r"<\s*([\w:]+)"),
    "cpp": re.compile(r":\s*(?:public|protected|private)?\s*([\w:<>, ]+)$"),
    "csharp": re.compile(r":\s*([\w<>., ]+)$"),
}
EXTENDS = re.compile(r"\b(?:extends|implements)\s+([\w.<>, ]+?)(?=\s*(?:implements|\{|$))")


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


def build_graph(chunks: list[ChunkInfo]) -> Graph:
    graph = Graph()
    units = [c for c in chunks if c.kind in ("function", "method", "class")]
    by_name: dict[str, list[ChunkInfo]] = defaultdict(list)
    by_qualified: dict[tuple[str, str], ChunkInfo] = {}
    for unit in units:
        graph.nodes[unit.id] = (unit.kind, unit.name, unit.qualified_name, unit.file_path, unit.id)
        by_name[unit.name].append(unit)
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
        candidates = by_name.get(name, [])
        imported = imports_by_file[caller.file_path]
        if len(parts) > 1 and head in imported:
            # `requests.get`: an imported module; only a repository file of that name counts.
            candidates = [c for c in candidates if head in re.split(r"[/.]", c.file_path)]
            return candidates[0].id if len(candidates) == 1 else external(callee)
        same_file = [c for c in candidates if c.file_path == caller.file_path]
        if len(same_file) == 1:
            return same_file[0].id
        if name in imported:
            # What a file imports by name is a top-level unit, never some class's method.
            elsewhere = [
                c for c in candidates if c.file_path != caller.file_path and c.kind != "method"
            ]
            if len(elsewhere) == 1:
                return elsewhere[0].id
        if len(candidates) == 1:
            return candidates[0].id
        return external(callee)

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
            matches = by_name.get(name, [])
            target = matches[0].id if len(matches) == 1 else external(name)
            graph.edges.add((f"module:{path}", target, "imports"))
    return graph


def base_classes(signature: str, language: str) -> list[str]:
    """Base class names in a class signature (`class A(B, C)`, `extends B`, `: public B`)."""
    pattern = BASES.get(language)
    found = pattern.search(signature) if pattern else None
    text = found.group(1) if found else ""
    if not text:
        text = ",".join(match.group(1) for match in EXTENDS.finditer(signature))
    bases = []
    for part in text.split(","):
        name = re.sub(r"<.*", "", part).strip().split("=")[0].strip()
        name = re.sub(r"^(public|protected|private|virtual)\s+", "", name)
        if re.fullmatch(r"[\w.:]+", name) and name not in ("object", "metaclass"):
            bases.append(name)
    return bases
