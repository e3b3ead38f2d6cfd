"""Call graph resolution from chunk metadata (pure logic)."""

from api.code.graph.builder import ChunkInfo, base_classes, build_graph


def unit(id_, kind, qualified, path, calls=(), imports=(), signature="", language="python"):
    return ChunkInfo(
        id=id_,
        kind=kind,
        name=qualified.rsplit(".", 1)[-1],
        qualified_name=qualified,
        file_path=path,
        language=language,
        metadata={"calls": list(calls), "imports": list(imports), "signature": signature},
    )


CHUNKS = [
    unit("c1", "class", "Client", "app/client.py", signature="class Client(BaseClient)"),
    unit("m1", "method", "Client.get", "app/client.py", calls=["self.fetch", "retry"]),
    unit(
        "m2",
        "method",
        "Client.fetch",
        "app/client.py",
        calls=["requests.get", "retry.backoff"],
        imports=["requests", "retry"],
    ),
    unit("f3", "function", "backoff", "app/retry.py"),
    unit("f1", "function", "retry", "app/retry.py"),
    unit(
        "f2", "function", "main", "app/main.py", calls=["Client", "load_config"], imports=["Client"]
    ),
    unit("b1", "class", "BaseClient", "app/base.py"),
    unit("l1", "function", "load_config", "app/config.py"),
    unit("l2", "function", "load_config", "tests/config.py"),
]


def edges_of(relation):
    graph = build_graph(CHUNKS)
    return {(s, t) for s, t, r in graph.edges if r == relation}, graph


def test_calls_resolve_self_same_file_imported_unique_and_external():
    calls, graph = edges_of("calls")
    assert ("m1", "m2") in calls  # self.fetch -> the same class's method
    assert ("m1", "f1") in calls  # unique name in the repository
    assert ("f2", "c1") in calls  # imported symbol
    # load_config is defined twice and not imported: an external node, not a guess
    assert ("f2", "external:load_config") in calls
    assert ("m2", "external:requests.get") in calls  # not the repository's own Client.get
    assert ("m2", "f3") in calls  # retry.backoff: a module of the repository
    assert graph.nodes["external:requests.get"][0] == "external"


def test_contains_inherits_and_imports():
    contains, _ = edges_of("contains")
    assert {("c1", "m1"), ("c1", "m2")} <= contains
    assert ("module:app/retry.py", "f1") in contains
    assert ("module:app/client.py", "m1") not in contains
    inherits, _ = edges_of("inherits")
    assert inherits == {("c1", "b1")}
    imports, _ = edges_of("imports")
    assert ("module:app/main.py", "c1") in imports


def test_base_classes_across_languages():
    assert base_classes("class A(B, mixins.C, metaclass=Meta)", "python") == ["B", "mixins.C"]
    assert base_classes("class A extends B implements I, J", "java") == ["B", "I", "J"]
    assert base_classes("class Cache extends Map<string, number>", "typescript") == ["Map"]
    assert base_classes("class Socket : public Base", "cpp") == ["Base"]
    assert base_classes("public class Handler : Controller, IDisposable", "csharp") == [
        "Controller",
        "IDisposable",
    ]
    assert base_classes("class Client < Base", "ruby") == ["Base"]
    assert base_classes("class Plain", "python") == []


def test_an_imported_name_resolves_to_the_function_not_a_method_of_that_name():
    chunks = [
        unit("r1", "function", "render", "ui/rendering.py"),
        unit("r2", "method", "Metrics.render", "metrics.py"),
        unit("p1", "function", "page", "ui/router.py", calls=["render"], imports=["render"]),
    ]
    calls = {(s, t) for s, t, r in build_graph(chunks).edges if r == "calls"}
    assert ("p1", "r1") in calls
