"""Python sources with their docstrings removed, and the functions they documented.

The CodeSearchNet protocol: a function's docstring is taken out of the indexed code, and its
first sentence becomes the query whose answer is that function. Shared by `make eval` (code
sets) and tests/code/test_code_retrieval_quality.py.
"""

import ast
from dataclasses import dataclass

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
MIN_QUERY_WORDS = 4


def first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, on one line, without its period."""
    return " ".join(doc.split("\n\n")[0].split()).split(". ")[0].rstrip(".")


def strip_docstrings(source: str) -> tuple[str, dict[str, str]]:
    """The source without docstrings, and {qualified function name: first docstring sentence}.

    Every function and class docstring goes, at any depth (inside `if`/`try` blocks too); a
    query is kept for functions and methods whose sentence has at least four words.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    removed: set[int] = set()
    queries: dict[str, str] = {}

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (*FUNCTIONS, ast.ClassDef)):
                visit(child, scope)  # compound statements keep the enclosing scope
                continue
            name = ".".join([*scope, child.name])
            doc = ast.get_docstring(child)
            first = child.body[0]
            if doc and isinstance(first, ast.Expr) and first.end_lineno is not None:
                sentence = first_sentence(doc)
                if isinstance(child, FUNCTIONS) and len(sentence.split()) >= MIN_QUERY_WORDS:
                    queries[name] = sentence
                start = first.lineno - 1
                if lines[start][: first.col_offset].strip():  # `def f(): "doc"` on one line
                    lines[start] = lines[start][: first.col_offset] + "pass"
                    removed.update(range(start + 1, first.end_lineno))
                else:
                    removed.update(range(start, first.end_lineno))
                    if len(child.body) == 1:  # keep the body valid
                        lines[start] = " " * first.col_offset + "pass"
                        removed.discard(start)
            visit(child, [*scope, child.name])

    visit(tree, [])
    kept = [line for index, line in enumerate(lines) if index not in removed]
    return "\n".join(kept) + "\n", queries


@dataclass(frozen=True)
class FunctionUnit:
    """A function or method that the code index keeps as a chunk of its own."""

    qualified_name: str
    source: str


def function_units(source: str) -> list[FunctionUnit]:
    """Functions and methods not nested in another function, with their source (decorators
    included): the units that the chunker (api/code/index/walker.py) indexes on their own and
    names `Class.method`. A nested function is part of its parent's chunk."""
    tree = ast.parse(source)
    lines = source.splitlines()
    units: list[FunctionUnit] = []

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, FUNCTIONS):
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)]) - 1
                text = "\n".join(lines[start : child.end_lineno])
                units.append(FunctionUnit(".".join([*scope, child.name]), text))
            elif isinstance(child, ast.ClassDef):
                visit(child, [*scope, child.name])
            else:
                visit(child, scope)

    visit(tree, [])
    return units
