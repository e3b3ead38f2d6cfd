"""Hostile sources cost the chunker and the graph builder time linear in their size.

Times are CPU seconds of this process (`time.process_time`), so a busy machine does not make
them flaky; each bound is far above what linear code takes and far below what the quadratic
patterns these tests were written against took (seconds to minutes at these sizes).
tree-sitter's own time is not ours to bound here: in the service a file's parse runs in a
worker process that is killed past CODE_INDEX_FILE_TIMEOUT_SECONDS (see test_index_liveness).
"""

import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.code.graph.builder import ChunkInfo, Graph, base_classes, build_graph
from api.code.index.chunking import (
    MAX_FILE_CHUNKS,
    Chunk,
    chunk_file,
    chunk_tree,
    line_windows,
    parse_tree,
    skip_reason,
)
from api.code.index.languages import BY_NAME, SPECS
from api.code.index.texts import MAX_FIELD_CHARS, search_fields

EXTENSIONS = {spec.name: spec.extensions[0] for spec in SPECS}


def cpu_seconds(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.process_time()
    result = work()
    return result, time.process_time() - started


def graph_of(chunks: list[Chunk]) -> Graph:
    return build_graph(
        [
            ChunkInfo(str(i), c.kind, c.name, c.qualified_name, c.file_path, c.language, c.metadata)
            for i, c in enumerate(chunks)
        ]
    )


def index_offline(path: str, source: str) -> tuple[list[Chunk], Graph]:
    """What indexing computes for a file, short of the database: chunks, words, graph."""
    chunks = chunk_file(path, source)
    assert isinstance(chunks, list), chunks
    for chunk in chunks:
        search_fields(chunk)
    return chunks, graph_of(chunks)


# --- the reported patterns -----------------------------------------------------------------


def test_go_receiver_with_a_long_run_of_whitespace():
    # 18 KB: the receiver pattern took 5 s on this receiver (and 14.7 s on the reported file).
    source = "package p\n\nfunc (r T" + " \n" * 9000 + ", s U) Handle() {}\n"
    (chunks, _), seconds = cpu_seconds(lambda: index_offline("recv.go", source))
    assert seconds < 1.5
    assert {c.qualified_name for c in chunks if c.kind == "method"} == {"U.Handle"}


@pytest.mark.parametrize(
    "receiver",
    [
        "(r " + "\t\n" * 9000 + "*T)",  # whitespace before the type
        "(" + "a\n" * 9000 + " T)",  # a long run of identifiers
        "(r *T[" + "K, \n" * 4500 + "])",  # type parameters
        "(r " + " \n" * 9000,  # no closing parenthesis
    ],
)
def test_go_receivers_of_every_shape_index_fast(receiver):
    source = f"package p\n\nfunc {receiver} Handle() {{ run() }}\n"
    _, seconds = cpu_seconds(lambda: index_offline("recv.go", source))
    assert seconds < 1.5


def test_go_receiver_types_come_from_the_syntax_tree():
    source = (
        "package p\n"
        "func (s *Server) Start() {}\n"
        "func (Server) Stop() {}\n"
        "func (t *Tree[K, V]) Walk() {}\n"
        "func (c pkg.Conn) Close() {}\n"
    )
    chunks, _ = index_offline("server.go", source)
    assert {c.qualified_name for c in chunks if c.kind == "method"} == {
        "Server.Start",
        "Server.Stop",
        "Tree.Walk",
        "Conn.Close",
    }


def test_cpp_base_clause_with_many_qualified_bases():
    # Every `::` was a new start for `:\s*(?:public...)?\s*([\w:<>, ]+)$`, which a trailing
    # comment made scan to the end each time: 0.9 s at 16 KB, growing with the square
    # (about 7 s at the 80 KB header here).
    bases = ", ".join(f"public std::Base{i}" for i in range(3600))
    source = f"class Widget : {bases} // many\n{{\n}};\n" + "int x;\n" * 2000
    (chunks, graph), seconds = cpu_seconds(lambda: index_offline("widget.cpp", source))
    assert seconds < 1.5
    [widget] = [c for c in chunks if c.kind == "class"]
    inherited = {graph.nodes[t][2] for s, t, r in graph.edges if r == "inherits"}
    assert "std::Base0" in inherited and widget.name == "Widget"


def test_extends_inside_type_parameters():
    # Each `extends` of a type parameter's bound was a start for the lazy `extends` pattern,
    # which then scanned to the end of the header: 1.1 s at 15 KB, growing with the square
    # (1.9 s for the 30 KB header here).
    parameters = ", ".join(f"T{i} extends Base" for i in range(1800))
    source = f"class Box<{parameters}> extends Shape // bounded\n{{\n}}\n" + "// x\n" * 2000
    (_, graph), seconds = cpu_seconds(lambda: index_offline("Box.java", source))
    assert seconds < 1.0
    inherited = {graph.nodes[t][2] for s, t, r in graph.edges if r == "inherits"}
    assert inherited == {"Shape"}  # a parameter's bound is no base class


@pytest.mark.parametrize(
    ("signature", "language"),
    [
        ("class A " + ": " * 9000 + "B(", "cpp"),
        ("class A : " + " " * 18000 + "x(", "cpp"),
        ("class A extends " + "B extends " * 1800 + "C(", "java"),
        ("class A extends " + " " * 18000 + "(", "typescript"),
        ("class A : " + "B " * 9000 + "C(", "csharp"),
        ("class A(" + "B, " * 6000, "python"),
        ("class A < " + " " * 18000, "ruby"),
    ],
)
def test_base_classes_of_hostile_headers(signature, language):
    _, seconds = cpu_seconds(lambda: base_classes(signature, language))
    assert seconds < 0.05


def test_base_classes_skip_type_parameter_bounds_and_modifiers():
    java = "class A<T extends B, U extends Map<K, V>> extends C<T> implements I, J<K>"
    assert base_classes(java, "java") == ["C", "I", "J"]
    assert base_classes("struct X : std::vector<int>, virtual public Y", "cpp") == [
        "std::vector",
        "Y",
    ]
    assert base_classes("class A<T> : B where T : new()", "csharp") == ["B"]


def test_doc_comment_with_an_unclosed_tag():
    # `</?\w+[^>]*>` backtracked over `\w+` and `[^>]*` alike on a tag that never closes
    # (0.9 s at 30 KB, growing with the square).
    comment = "/// <summary" + "x" * 60000 + "\n"
    source = f"class A {{\n{comment}void F() {{ }}\n}}\n" + "// filler\n" * 2000
    (chunks, _), seconds = cpu_seconds(lambda: index_offline("A.cs", source))
    assert seconds < 1.5
    assert any(c.qualified_name == "A.F" for c in chunks)


def test_a_long_function_is_described_once_not_once_per_part():
    # Each 200-line part of a split function walked the whole function's tree again, and held
    # all its calls, which the graph then resolved once per part.
    body = "".join(f"    step_{i}(value)\n" for i in range(20000))
    source = f"def long_one(value):\n{body}"
    (chunks, graph), seconds = cpu_seconds(lambda: index_offline("long.py", source))
    assert len(chunks) > 90 and seconds < 8
    assert sum(len(c.metadata["calls"]) for c in chunks) == 20000  # each call in its part
    assert chunks[1].metadata["calls"][0] == f"step_{chunks[1].start_line - 2}"
    assert len([e for e in graph.edges if e[2] == "calls"]) == 20000


def test_many_units_of_one_name_build_their_graph_in_linear_time():
    # Resolving each call scanned every unit of the callee's name.
    source = "".join("def handle():\n    handle()\n" for _ in range(8000))
    chunks = chunk_file("many.py", source, max_chunks=10_000)
    assert isinstance(chunks, list) and len(chunks) == 8000
    graph, seconds = cpu_seconds(lambda: graph_of(chunks))
    assert seconds < 1
    assert ("0", "external:handle", "calls") in graph.edges  # 8000 candidates: no guess


def test_a_file_of_many_tiny_units_is_indexed_as_a_bounded_number_of_windows():
    # 40,000 functions in 720 KB made 40,000 chunks: 80,000 vector index entries in one
    # statement, past the statement timeout, and a 1 s pause to unpickle them in the API.
    source = "".join(f"def f{i}():\n    g()\n" for i in range(40000))
    chunks, seconds = cpu_seconds(lambda: chunk_file("tiny.py", source))
    assert isinstance(chunks, list) and seconds < 5  # found out after MAX_FILE_CHUNKS units
    assert {c.kind for c in chunks} == {"window"} and len(chunks) <= MAX_FILE_CHUNKS
    assert chunks[0].start_line == 1 and chunks[-1].end_line == 80000  # every line kept
    assert all(c.language == "python" for c in chunks)


def test_windows_are_bounded_in_number_however_short_the_lines():
    text = "a\n" * 400_000
    windows = line_windows("notes.txt", text, language="text", max_windows=1000)
    assert len(windows) <= 1000 and windows[-1].end_line == 400_000


def test_search_words_stay_within_what_postgres_can_index():
    # Over 1 MB, the generated tsvector column refuses the row (and the request with it).
    identifiers = " ".join(f"field{i:06d}With{'x' * 150}Camel{i}" for i in range(6000))
    chunk = Chunk("A", "A", "class", "java", "A.java", 1, 1, identifiers, {})
    assert all(len(field) <= MAX_FIELD_CHARS for field in search_fields(chunk))


# --- nesting deeper than Python's recursion limit ------------------------------------------

N = 10_000
DEEP = {
    "python": ("deep.py", "def f():\n    return " + "(\n" * N + "g()" + ")\n" * N),
    "javascript": ("deep.js", "function f() {\n" + "{\n" * N + "g();\n" + "}\n" * N + "}\n"),
    "typescript": (
        "deep.ts",
        "namespace n {\n" * N + "class A { m(): void { g(); } }\n" + "}\n" * N,
    ),
    "tsx": ("deep.tsx", "function f() { return (\n" + "<a>\n" * N + "</a>\n" * N + "); }\n"),
    "go": ("deep.go", "package p\nfunc f() {\n" + "{\n" * N + "g()\n" + "}\n" * N + "}\n"),
    "rust": ("deep.rs", "mod m {\n" * N + "fn f() { g(); }\n" + "}\n" * N),
    "java": ("Deep.java", "class A {\n" * N + "void f() { g(); }\n" + "}\n" * N),
    "c": ("deep.c", "int f(void) {\n" + "{\n" * N + "g();\n" + "}\n" * N + "}\n"),
    "cpp": ("deep.cpp", "namespace n {\n" * N + "void f() { g(); }\n" + "}\n" * N),
    "ruby": ("deep.rb", "module M\n" * N + "def f\n  g\nend\n" + "end\n" * N),
    "php": ("deep.php", "<?php\nfunction f() { return " + "(\n" * N + "g()" + ")\n" * N + "; }\n"),
    "csharp": ("Deep.cs", "class A {\n" * N + "void F() { G(); }\n" + "}\n" * N),
}


def tree_depth(root: Any) -> int:
    deepest, stack = 0, [(root, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.children)
    return deepest


def test_every_language_has_a_deep_case():
    assert set(DEEP) == {spec.name for spec in SPECS}


@pytest.mark.parametrize("language", sorted(DEEP))
def test_ten_thousand_levels_of_nesting(language):
    path, source = DEEP[language]
    tree = parse_tree(BY_NAME[language], source.encode())
    assert tree_depth(tree.root_node) >= N  # the tree really is that deep
    (chunks, graph), seconds = cpu_seconds(lambda: index_offline(path, source))
    assert seconds < 6
    units = [c for c in chunks if c.kind in ("function", "method")]
    assert units, "the innermost unit is still found"
    # Names and class chunks stop at a bounded nesting: output stays linear in the input.
    assert max(len(c.qualified_name.split(".")) for c in chunks) <= 18
    assert sum(len(c.source) for c in chunks) < 20 * len(source)
    assert graph.nodes


# --- generated hostile sources, every language ---------------------------------------------

COMMON = [
    *" \n\t()[]{}<>,;:.=\"'`\\*&|?!#@$%^~-+/",
    "::",
    "->",
    "=>",
    "/*",
    "*/",
    "//",
    "\n    ",
    "a",
    "Bc",
    "_x1",
    "0x1",
    " extends ",
    " implements ",
    "a.b(",
    "f(",
    "){",
    "<a",
    "a>",
    "a <\n",
    "x<",
    "<summary",
]
FRAGMENTS = {
    "python": ["def f(", "class A(", "):\n", "lambda:", '"""', "@dec\n", "import a\n", "not "],
    "javascript": ["function f(", "class A extends ", "const f = (", "${", "export ", "/** "],
    "typescript": ["class A<T extends ", "interface I extends ", "@d ", "namespace N {", "f<T>("],
    "tsx": ["<div>", "</div>", "<A b={", "}>", "const f = () => <a/>;\n"],
    "go": ["package p\n", "func (r ", "func (", ") M() {", "type T struct {", "*T", "[K, V]"],
    "rust": ["fn f(", "impl<T> A<T> for ", "struct S {", "mod m {", "macro_rules! m {", 'r#"'],
    "java": ["class A<T extends ", "void f(", "@Override\n", "import a.b;\n", "public "],
    "c": ["int f(", "struct s {", "#include <a.h>\n", "#define X(", "#if 0\n", "int (*f)("],
    "cpp": ["class A : public ", "std::", "namespace n {", "template <typename T>", "void A::f("],
    "ruby": ["def f", "class A < ", "module M\n", "end\n", "do |x|", "<<~EOS\n", "=begin\n"],
    "php": ["<?php ", "function f(", "class A extends ", "namespace N;", "$this->", "->f()"],
    "csharp": ["class A : ", "where T : ", "namespace N {", "/// <summary>", "[Attr]", "void F("],
}
TINY_UNITS = {
    "python": "def f():\n    g()\n",
    "javascript": "function f() { g(); }\n",
    "typescript": "class A { @d m(): void { this.g(); } }\n",
    "tsx": "const F = () => <a onClick={g}/>;\n",
    "go": "func (s *S) M() { s.f() }\n",
    "rust": "impl A { fn f(&self) { g(); } }\n",
    "java": "class A extends B { void f() { g(); } }\n",
    "c": "int f(void) { return g(); }\n",
    "cpp": "class A : public std::B { void f() { g(); } };\n",
    "ruby": "class A < B\n  def f\n    g\n  end\nend\n",
    "php": "<?php function f() { return g(); }\n",
    "csharp": "class A : B { void F() { G(); } }\n",
}
MAX_SOURCE_CHARS = 20_000


@st.composite
def hostile_sources(draw: st.DrawFn, language: str) -> str:
    """Runs of one fragment each (whitespace, identifiers, brackets, openers with no closer,
    unterminated strings and comments, headers, tiny functions), and nests of brackets."""
    fragments = st.sampled_from([*COMMON, *FRAGMENTS[language], TINY_UNITS[language]])
    runs = st.tuples(fragments, st.sampled_from([1, 2, 10, 100, 1000, 5000, 20000]))
    pieces = [fragment * count for fragment, count in draw(st.lists(runs, min_size=1, max_size=8))]
    if draw(st.booleans()):
        opener, closer = draw(st.sampled_from([("(", ")"), ("{\n", "}\n"), ("[", "]"), ("<", ">")]))
        depth = draw(st.integers(1, 4000))
        pieces.insert(draw(st.integers(0, len(pieces))), opener * depth + closer * depth)
    return "".join(pieces)[:MAX_SOURCE_CHARS]


@pytest.mark.parametrize("language", sorted(FRAGMENTS))
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_generated_hostile_sources_take_linear_time(language, data):
    source = data.draw(hostile_sources(language))
    path = f"hostile{EXTENSIONS[language]}"
    encoded = source.encode()
    if skip_reason(path, encoded) is not None:
        return  # minified, generated...: not parsed at all
    spec = BY_NAME[language]
    # tree-sitter first, on its own clock (a budget it honours in most of its work).
    tree = parse_tree(spec, encoded, timeout=2.0)

    def ours() -> Graph:
        if tree is None:
            chunks = line_windows(path, source, language=language)
        else:
            chunks = chunk_tree(path, spec, encoded, tree) or []
        for chunk in chunks:
            search_fields(chunk)
        return graph_of(chunks)

    _, seconds = cpu_seconds(ours)
    assert seconds < 2, f"{language}: {seconds:.2f} s of CPU for {len(source)} characters"


def test_fragments_cover_every_language():
    assert set(FRAGMENTS) == set(TINY_UNITS) == {spec.name for spec in SPECS}


def test_a_parse_over_its_budget_falls_back_to_line_windows():
    # tree-sitter's Go grammar works for minutes on runs of `->`; its own clock stops it.
    source = "\\" * 1000 + "->" * 10000 + "\n    " * 2000
    chunks, seconds = cpu_seconds(lambda: chunk_file("arrows.go", source, parse_timeout=0.2))
    assert seconds < 4
    assert isinstance(chunks, list) and chunks
    assert {c.kind for c in chunks} == {"window"} and chunks[0].language == "go"
