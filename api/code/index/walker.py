"""The walk over a syntax tree that turns a parsed file into chunks (see chunking.py).

Any input must cost time linear in its size: the walk is iterative (a tree may nest deeper than
Python's recursion limit), no regular expression here can backtrack over its input, and the
walker asks tree-sitter for no parent or sibling (it finds those by walking down from the root,
so each costs the depth of the tree): it passes down what it has seen instead.
"""

import re
from bisect import bisect_left, bisect_right
from typing import Any, NamedTuple

from api.code.index.chunks import MAX_CHUNK_LINES, Chunk, stem
from api.code.index.languages import LanguageSpec
from api.code.index.metadata import (
    FileFacts,
    Place,
    comment_index,
    describe,
    describe_text,
    file_imports,
    located_calls,
)

# Names qualify a unit with at most this many enclosing scopes, and classes nested deeper get no
# chunk of their own (their text stays in the enclosing class's chunk; their methods still get
# theirs): each class chunk repeats the classes inside it, so unbounded nesting would turn a
# small file into output quadratic in its size.
MAX_NESTING = 16
# Go receiver types wrap the type's name: `*Tree[K, V]`, `(T)`, `pkg.T`.
GO_TYPE_WRAPPERS = ("pointer_type", "parenthesized_type")
NAME_NODES = (
    "identifier",
    "field_identifier",
    "qualified_identifier",
    "destructor_name",
    "operator_name",
    "type_identifier",
    "scoped_identifier",
)


class _Visit(NamedTuple):
    """A node still to visit, with what the walk knows about where it sits."""

    node: Any
    parent: Any
    siblings: list[Any]  # the parent's named children, `node` among them at `position`
    position: int
    scope: tuple[str, ...]
    in_container: bool


class Walker:
    def __init__(self, spec: LanguageSpec, data: bytes, path: str) -> None:
        self.spec = spec
        self.data = data
        self.lines = data.decode("utf-8").splitlines()  # once per file, not once per unit
        self.path = path
        self.chunks: list[Chunk] = []
        self.covered: list[tuple[int, int]] = []  # 0-based line ranges held by unit chunks
        self.imports: set[str] = set()
        self.facts = FileFacts(data=data, imports=set(), comments={})

    def run(self, root: Any, *, max_chunks: int | None = None) -> list[Chunk] | None:
        """The file's chunks, or None as soon as its units are more than `max_chunks`."""
        self.imports = file_imports(root, self.spec)
        self.facts = FileFacts(
            data=self.data, imports=self.imports, comments=comment_index(root, self.spec)
        )
        # Depth first, in source order, with a stack of its own instead of recursion.
        stack = list(reversed(self.children(root, (), in_container=False)))
        while stack:
            stack.extend(reversed(self.visit_node(stack.pop())))
            if max_chunks is not None and len(self.chunks) > max_chunks:
                return None
        self.chunks.extend(self.module_chunks())
        self.chunks.sort(key=lambda chunk: (chunk.start_line, chunk.kind != "class"))
        return self.chunks

    def children(self, node: Any, scope: tuple[str, ...], *, in_container: bool) -> list[_Visit]:
        siblings = node.named_children
        return [
            _Visit(child, node, siblings, position, scope, in_container)
            for position, child in enumerate(siblings)
        ]

    def visit_node(self, visit: _Visit) -> list[_Visit]:
        """Chunk the node if it is a unit; return the nodes to visit under it."""
        node, scope, in_container = visit.node, visit.scope, visit.in_container
        kind = node.type
        if kind == "decorated_definition":
            inner = node.child_by_field_name("definition")
            if inner is not None:
                return self.unit(inner, visit, outer=node)
            return []
        if kind in self.spec.functions or kind in self.spec.containers:
            return self.unit(node, visit, outer=node)
        if self.spec.function_values and kind in ("lexical_declaration", "variable_declaration"):
            declarator = next(
                (c for c in node.named_children if c.type == "variable_declarator"), None
            )
            value = declarator.child_by_field_name("value") if declarator is not None else None
            if value is not None and value.type in self.spec.function_values:
                self.function(node, declarator, visit, value=value)
                return []
        if kind in self.spec.scopes:
            name = _text(node.child_by_field_name("name")) or ""
            parts = [part for part in re.split(r"::|\\|\.", name) if part]
            return self.children(node, _nested(scope, parts), in_container=False)
        return self.children(node, scope, in_container=in_container)

    def place(self, outer: Any, visit: _Visit) -> Place:
        """Where a unit starts (an `export` wrapper included) and the decorators just before it
        (TypeScript puts a member's decorators before it, as siblings)."""
        wrapped = visit.parent is not None and visit.parent.type == "export_statement"
        start = visit.parent.start_point[0] if wrapped else outer.start_point[0]
        first = visit.position
        while first > 0 and visit.siblings[first - 1].type == "decorator":
            first -= 1
        return Place(start_row=start, decorators_before=visit.siblings[first : visit.position])

    def unit(self, node: Any, visit: _Visit, *, outer: Any) -> list[_Visit]:
        if node.type in self.spec.functions:
            self.function(outer, node, visit)
            return []  # a function's body is its own chunk's: nothing in it is chunked again
        return self.container(outer, node, visit)

    def function(self, outer: Any, node: Any, visit: _Visit, value: Any = None) -> None:
        name, qualifier = unit_name(node, self.spec)
        if not name:
            return
        qualified = ".".join([*visit.scope, *qualifier, name])
        kind = "method" if visit.in_container or qualifier else "function"
        body = (value or node).child_by_field_name("body")
        first, last = outer.start_point[0], outer.end_point[0]
        unit = node if value is None else value
        facts = describe(
            unit,
            outer,
            self.spec,
            self.facts,
            self.place(outer, visit),
            source="\n".join(self.lines[first : last + 1]),
            with_calls=False,
        )
        # Each part of a split function holds the calls on its own lines (all of them in each
        # would make a long function's graph quadratic in its length).
        located = located_calls(unit, self.spec, self.data)
        rows = [row for row, _ in located]
        for start, end in self.split(outer, body):
            mine = located[bisect_left(rows, start) : bisect_right(rows, end)]
            calls = list(dict.fromkeys(callee for _, callee in mine))
            self.emit(outer, name, qualified, kind, start, end, {**facts, "calls": calls})

    def container(self, outer: Any, node: Any, visit: _Visit) -> list[_Visit]:
        name, _ = unit_name(node, self.spec)
        if not name:
            return self.children(node, visit.scope, in_container=False)
        if len(visit.scope) >= MAX_NESTING:
            return self.children(node, visit.scope, in_container=True)
        qualified = ".".join([*visit.scope, name])
        source = self.elided(outer)
        facts = describe(
            node, outer, self.spec, self.facts, self.place(outer, visit), source=source
        )
        chunk = self.make_chunk(outer, name, qualified, "class", source=source, facts=facts)
        self.chunks.append(chunk)
        self.covered.append((outer.start_point[0], outer.end_point[0]))
        return self.children(node, _nested(visit.scope, [name]), in_container=True)

    def split(self, outer: Any, body: Any) -> list[tuple[int, int]]:
        """Line ranges (0-based, inclusive) of the parts of a unit, cut at statements."""
        first, last = outer.start_point[0], outer.end_point[0]
        if last - first + 1 <= MAX_CHUNK_LINES:
            return [(first, last)]
        cuts = [child.start_point[0] for child in (body.named_children if body else [])]
        parts, start = [], first
        for cut in cuts:
            if cut - start >= MAX_CHUNK_LINES:
                parts.append((start, cut - 1))
                start = cut
        while last - start + 1 > MAX_CHUNK_LINES:  # one statement longer than the limit
            parts.append((start, start + MAX_CHUNK_LINES - 1))
            start += MAX_CHUNK_LINES
        parts.append((start, last))
        return parts

    def emit(
        self,
        outer: Any,
        name: str,
        qualified: str,
        kind: str,
        start: int,
        end: int,
        facts: dict[str, Any],
    ) -> None:
        source = "\n".join(self.lines[start : end + 1])
        chunk = self.make_chunk(outer, name, qualified, kind, source=source, facts=facts)
        chunk.start_line, chunk.end_line = start + 1, end + 1
        if (outer.end_point[0] - outer.start_point[0] + 1) > MAX_CHUNK_LINES:
            chunk.metadata["part_of_lines"] = [outer.start_point[0] + 1, outer.end_point[0] + 1]
        self.chunks.append(chunk)
        self.covered.append((start, end))

    def make_chunk(
        self,
        outer: Any,
        name: str,
        qualified: str,
        kind: str,
        *,
        source: str,
        facts: dict[str, Any],
    ) -> Chunk:
        return Chunk(
            name=name,
            qualified_name=qualified,
            kind=kind,
            language=self.spec.name,
            file_path=self.path,
            start_line=outer.start_point[0] + 1,
            end_line=outer.end_point[0] + 1,
            source=source,
            metadata={**facts, **describe_text(source, self.facts)},
        )

    def elided(self, container: Any) -> str:
        """The container's text with every member function's body replaced by a placeholder."""
        pieces, cursor = [], container.start_byte
        for member in _members(container, self.spec):
            body = member.child_by_field_name("body")
            if body is None or body.start_byte < cursor:
                continue
            pieces.append(self.data[cursor : body.start_byte])
            pieces.append(_placeholder(self.spec).encode())
            cursor = body.end_byte
        pieces.append(self.data[cursor : container.end_byte])
        return b"".join(pieces).decode("utf-8", errors="replace")

    def module_chunks(self) -> list[Chunk]:
        """Code outside every unit, in blocks of at most MAX_CHUNK_LINES lines."""
        lines = self.lines
        # Units nest (a class holds its methods): count the ranges open on each line, so the
        # cost is one pass over the lines however the ranges overlap.
        opened = [0] * (len(lines) + 1)
        for start, end in self.covered:
            opened[min(start, len(lines))] += 1
            opened[min(end + 1, len(lines))] -= 1
        free, depth = [], 0
        for i, line in enumerate(lines):
            depth += opened[i]
            if depth == 0 and re.search(r"\w", line):
                free.append(i)
        chunks = []
        for block_start in range(0, len(free), MAX_CHUNK_LINES):
            block = free[block_start : block_start + MAX_CHUNK_LINES]
            source = "\n".join(lines[i] for i in block)
            chunks.append(
                Chunk(
                    name=stem(self.path),
                    qualified_name=self.path,  # a stem could equal a function's name
                    kind="module",
                    language=self.spec.name,
                    file_path=self.path,
                    start_line=block[0] + 1,
                    end_line=block[-1] + 1,
                    source=source,
                    metadata={
                        "loc": len(block),
                        "imports": sorted(self.imports),
                        "calls": [],
                        "complexity": 1,
                    },
                )
            )
        return chunks


def unit_name(node: Any, spec: LanguageSpec) -> tuple[str | None, list[str]]:
    """(name, qualifier) of a function or container node; the qualifier names its owner when
    the syntax says so outside any class body (Go receivers, C++ `A::f`, Rust `impl A`)."""
    kind = node.type
    if kind == "method_declaration" and spec.name == "go":
        owner = _go_receiver_type(node.child_by_field_name("receiver"))
        return _text(node.child_by_field_name("name")), [owner] if owner else []
    if kind == "impl_item":
        implemented = _text(node.child_by_field_name("type")) or ""
        return implemented.split("<", 1)[0].strip() or None, []
    if kind == "type_declaration":
        spec_node = next((c for c in node.named_children if c.type == "type_spec"), None)
        return _text(spec_node.child_by_field_name("name")) if spec_node else None, []
    if kind == "variable_declarator":
        return _text(node.child_by_field_name("name")), []
    declarator = node.child_by_field_name("declarator")
    if declarator is not None and node.child_by_field_name("name") is None:
        while declarator is not None and declarator.type not in NAME_NODES:
            declarator = declarator.child_by_field_name("declarator")
        parts = re.split(r"::", _text(declarator) or "")
        return (parts[-1] or None), [part for part in parts[:-1] if part]
    return _text(node.child_by_field_name("name")), []


def _go_receiver_type(receiver: Any) -> str | None:
    """The type a Go method belongs to: `Server` in `(s *Server)`, `(Server)`, `(t *Server[K])`,
    read from the syntax tree's fields (the last declaration names it)."""
    children = receiver.named_children if receiver is not None else []
    declarations = [c for c in children if c.type == "parameter_declaration"]
    node = declarations[-1].child_by_field_name("type") if declarations else None
    while node is not None:
        if node.type == "type_identifier":
            return _text(node)
        if node.type == "generic_type":
            node = node.child_by_field_name("type")
        elif node.type == "qualified_type":
            node = node.child_by_field_name("name")
        elif node.type in GO_TYPE_WRAPPERS and node.named_children:
            node = node.named_children[0]
        else:
            return None
    return None


def _nested(scope: tuple[str, ...], names: list[str]) -> tuple[str, ...]:
    return (*scope, *names)[:MAX_NESTING]


def _members(container: Any, spec: LanguageSpec) -> list[Any]:
    """The functions under a container, however deep (the body of one is not searched)."""
    found: list[Any] = []
    stack = list(container.named_children)
    while stack:
        node = stack.pop()
        if node.type in spec.functions:
            found.append(node)
        else:
            stack.extend(node.named_children)
    return sorted(found, key=lambda member: member.start_byte)


def _placeholder(spec: LanguageSpec) -> str:
    # Python and Ruby bodies have no braces (Ruby's `end` follows the body and stays).
    return "..." if spec.name in ("python", "ruby") else "{ ... }"


def _text(node: Any) -> str | None:
    if node is None:
        return None
    value: str = node.text.decode("utf-8", errors="replace")
    return value
