"""What a chunk says about itself: signature, parameters, return type, decorators, docstring,
cyclomatic complexity, lines of code, calls made and imported names used.

Text is read from the file's bytes by offsets, only as far as it is used: a node's own `.text`
copies the whole node, which for a call nested in a long chain is most of the file.
"""

import re
import textwrap
from dataclasses import dataclass
from typing import Any

from api.code.index.languages import LanguageSpec

PARAMETER_NAME_FIELDS = ("name", "pattern", "declarator")
RETURN_FIELDS = ("return_type", "result", "returns", "type")
DECORATOR_NODES = frozenset(
    {"decorator", "annotation", "marker_annotation", "attribute_list", "attribute_item"}
)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
COMMENT_MARKERS = re.compile(r"^\s*(///?|#|/\*\*?|\*/?|--)\s?")
# An XML tag in a doc comment (C#'s <summary>); `[^<>]*` cannot backtrack past the next tag.
DOC_TAG = re.compile(r"</?\w[^<>]*>")
MAX_CALL_CHARS = 120
# Whitespace collapses, so a little more than MAX_CALL_CHARS bytes is read for each callee.
CALL_READ_BYTES = 4 * MAX_CALL_CHARS
# What CPython's parser raises on code nested too deeply for it (radon parses with `ast`).
UNPARSABLE = (SyntaxError, ValueError, RecursionError, MemoryError)


@dataclass(frozen=True)
class FileFacts:
    """What every unit of a file is described with."""

    data: bytes  # the file, which the tree's byte offsets point into
    imports: set[str]
    comments: dict[int, Any]  # the last row of each comment -> its node


@dataclass(frozen=True)
class Place:
    """Where the walker found a unit: tree-sitter finds a node's parent or sibling by walking
    down from the root, so the walker passes down what it has already seen."""

    start_row: int  # of the whole declaration, an `export` wrapper included
    decorators_before: list[Any]  # decorator siblings just before it (TypeScript members)


def describe(
    node: Any,
    outer: Any,
    spec: LanguageSpec,
    facts: FileFacts,
    place: Place,
    *,
    source: str,
    with_calls: bool = True,
) -> dict[str, Any]:
    """What a unit says about itself, from its tree and its whole `source`: computed once per
    unit, however many chunks a long one is split into (each part would walk it all again).

    Without `with_calls`, the caller finds the calls itself (a split function: each part gets
    the calls on its own lines)."""
    is_function = node.type in spec.functions or node.type in spec.function_values
    found_decorators = decorators(node, outer, place)
    units = spec.functions | spec.containers
    described = {
        "signature": signature(node, outer, spec, found_decorators, facts.data),
        "parameters": parameters(node) if is_function else [],
        "return_type": return_type(node) if is_function else None,
        "decorators": found_decorators,
        "docstring": docstring(node, spec, facts.comments, place),
        "complexity": complexity(node, spec, source) if is_function else 1,
    }
    if with_calls:
        # A class's methods and inner classes are chunks of their own: its calls are those of
        # its own code (and each level of nesting does not walk all the levels below again).
        skip = frozenset() if is_function else units
        described["calls"] = calls(node, spec, facts.data, skip=skip)
    return described


def describe_text(source: str, facts: FileFacts) -> dict[str, Any]:
    """What one chunk's own text says: its lines of code and the imported names it uses."""
    identifiers = set(IDENTIFIER.findall(source))
    return {
        "loc": sum(1 for line in source.splitlines() if line.strip()),
        "imports": sorted(name for name in facts.imports if name in identifiers),
    }


def signature(
    node: Any, outer: Any, spec: LanguageSpec, found_decorators: list[str], data: bytes
) -> str:
    """The declaration up to its body, on one line, without decorators."""
    body = node.child_by_field_name("body")
    # `const handler = async (req) => ...`: the name is part of the signature.
    head = outer if outer.type in ("lexical_declaration", "variable_declaration") else node
    end = body.start_byte if body is not None else node.end_byte
    if body is None or node.type in spec.containers:
        line_end = data.find(b"\n", head.start_byte, end)
        end = end if line_end < 0 else line_end
    text = data[head.start_byte : end].decode("utf-8", errors="replace")
    text = " ".join(text.split())
    for decorator in found_decorators:
        text = text.replace(decorator, "", 1)
    return text.strip().rstrip("{:").strip()


def parameters(node: Any) -> list[str]:
    params = node.child_by_field_name("parameters")
    declarator = node.child_by_field_name("declarator")
    while params is None and declarator is not None:  # C and C++: inside the declarator
        params = declarator.child_by_field_name("parameters")
        declarator = declarator.child_by_field_name("declarator")
    if params is None:
        return []
    names = []
    for child in params.named_children:
        if child.type == "parameter_declaration" and child.text.decode().strip() == "void":
            continue  # C's `f(void)` takes no parameter
        if child.type in ("identifier", "self_parameter", "variable_name"):
            names.append(child.text.decode())
            continue
        target = child
        for _ in range(4):  # declarators nest: pointer -> array -> identifier
            inner = next(
                (
                    target.child_by_field_name(f)
                    for f in PARAMETER_NAME_FIELDS
                    if target.child_by_field_name(f) is not None
                ),
                None,
            )
            if inner is None:
                break
            target = inner
        if target is not child or target.type == "identifier":
            names.append(target.text.decode())
        else:
            found = IDENTIFIER.findall(child.text.decode())
            if found:
                names.append(found[0])
    return names


def return_type(node: Any) -> str | None:
    for name in RETURN_FIELDS:
        value = node.child_by_field_name(name)
        if value is not None:
            text = " ".join(value.text.decode().split()).lstrip(":-> ").strip()
            return text or None
    return None


def decorators(node: Any, outer: Any, place: Place) -> list[str]:
    found = [" ".join(sibling.text.decode().split()) for sibling in place.decorators_before]
    for holder in (outer, node):
        for child in holder.children:
            if child.type in DECORATOR_NODES:
                found.append(" ".join(child.text.decode().split()))
            elif child.type in ("modifiers", "attribute_list"):
                found.extend(
                    " ".join(grand.text.decode().split())
                    for grand in child.children
                    if grand.type in DECORATOR_NODES
                )
        if holder is node:
            break
    return list(dict.fromkeys(found))


def docstring(node: Any, spec: LanguageSpec, comments: dict[int, Any], place: Place) -> str | None:
    if spec.name == "python":
        body = node.child_by_field_name("body")
        first = body.named_children[0] if body is not None and body.named_children else None
        if first is not None and first.type == "expression_statement":
            literal = first.named_children[0] if first.named_children else None
            if literal is not None and literal.type == "string":
                text = literal.text.decode()
                return textwrap.dedent(text.strip("\"'rbuRBU").strip("\"'")).strip() or None
        return None
    return leading_comment(place.start_row, comments)


def comment_index(root: Any, spec: LanguageSpec) -> dict[int, Any]:
    """Every comment of a file by the row it ends on (comments sit anywhere in some trees)."""
    index: dict[int, Any] = {}
    stack = [root]
    while stack:
        current = stack.pop()
        if current.type in spec.comments:
            index[current.end_point[0]] = current
            continue
        stack.extend(current.children)
    return index


def leading_comment(start: int, comments: dict[int, Any]) -> str | None:
    """The comment block directly above a declaration starting on row `start` (no blank line
    between)."""
    lines: list[str] = []
    row = start - 1
    while row in comments and comments[row].start_point[0] <= row:
        comment = comments[row]
        text = comment.text.decode()
        cleaned = [COMMENT_MARKERS.sub("", line).rstrip(" */") for line in text.splitlines()]
        lines = [line for line in cleaned if line.strip()] + lines
        row = comment.start_point[0] - 1
    text = DOC_TAG.sub("", "\n".join(lines))
    return text.strip() or None


def complexity(node: Any, spec: LanguageSpec, source: str) -> int:
    """Cyclomatic complexity: radon for Python functions, else 1 + decision points."""
    if spec.name == "python" and node.type == "function_definition":
        from radon.complexity import cc_visit

        try:
            blocks = cc_visit(textwrap.dedent(source))
        except UNPARSABLE:  # not Python 3 to `ast`, or nested past its limits: count below
            blocks = []
        if blocks:
            return int(blocks[0].complexity)
    count = 1
    stack = list(node.named_children)
    while stack:
        child = stack.pop()
        if child.type in spec.decisions:
            count += 1
        if child.type == "binary_expression":
            operator = child.child_by_field_name("operator")
            if operator is not None and operator.type in ("&&", "||", "and", "or"):
                count += 1
        stack.extend(child.named_children)
    return count


def calls(
    node: Any, spec: LanguageSpec, data: bytes, *, skip: frozenset[str] = frozenset()
) -> list[str]:
    """Callee expressions, in order of appearance, without duplicates (`self.save`, `fetch`)."""
    return list(dict.fromkeys(callee for _, callee in located_calls(node, spec, data, skip=skip)))


def located_calls(
    node: Any, spec: LanguageSpec, data: bytes, *, skip: frozenset[str] = frozenset()
) -> list[tuple[int, str]]:
    """(row, callee) of every call, in order of appearance (so by row)."""
    found: list[tuple[int, str]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current is not node and current.type in skip:
            continue
        if current.type in spec.calls:
            callee = (
                current.child_by_field_name("function")
                or current.child_by_field_name("name")
                or current.child_by_field_name("method")
                or current.child_by_field_name("macro")
                or current.child_by_field_name("type")
                or (current.named_children[0] if current.named_children else None)
            )
            if callee is not None:
                prefix = current.child_by_field_name("object") or current.child_by_field_name(
                    "receiver"
                )
                text = _head(callee, data)
                if prefix is not None and callee.type != "member_expression":
                    text = f"{_head(prefix, data)}.{text}"
                found.append((current.start_point[0], " ".join(text.split())[:MAX_CALL_CHARS]))
        stack.extend(reversed(current.named_children))
    return found


def _head(node: Any, data: bytes) -> str:
    """The start of a node's text: enough for a call's name, whatever the node holds."""
    end = min(node.end_byte, node.start_byte + CALL_READ_BYTES)
    return data[node.start_byte : end].decode("utf-8", errors="replace")


def file_imports(root: Any, spec: LanguageSpec) -> set[str]:
    """Names a file imports (last component of each imported path, and aliases)."""
    names: set[str] = set()
    stack = [root]
    while stack:
        current = stack.pop()
        if current.type in spec.imports:
            text = current.text.decode()
            text = re.sub(r"\bfrom\s+\S+\s+import\b", "import", text)
            for token in re.findall(r"[A-Za-z_][\w]*", text):
                if token not in {
                    "import",
                    "from",
                    "as",
                    "use",
                    "using",
                    "include",
                    "static",
                    "require",
                    "pub",
                    "crate",
                    "self",
                    "super",
                    "type",
                    "function",
                }:
                    names.add(token)
            continue
        if current.type in spec.functions or current.type in spec.containers:
            continue
        stack.extend(current.named_children)
    return names
