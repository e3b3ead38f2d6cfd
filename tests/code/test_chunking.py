"""Chunking with tree-sitter: one chunk per function, method and class, for every language."""

import textwrap

import pytest

from api.code.index.chunking import MAX_CHUNK_LINES, Chunk, Skipped, chunk_file, skip_reason

PYTHON = '''\
"""HTTP helpers."""
import os
from http import client as http_client

RETRIES = 3


class Fetcher(Base):
    """Fetches things over HTTP."""

    timeout = 5

    @retry(times=3)
    def fetch(self, url: str, *, retries: int = 2) -> bytes:
        """Fetch a URL, retrying on failure."""
        for attempt in range(retries):
            if self.ok(url) and attempt:
                return http_client.get(url)
        return self.save(os.path.join("cache", url))

    def ok(self, url):
        return True


def main():
    Fetcher().fetch("x")


if __name__ == "__main__":
    main()
'''

SAMPLES = {
    "web/client.js": (
        """\
        import { get } from "./http.js";
        // Retry a request until it succeeds.
        export async function retry(fn, times = 3) {
          for (let i = 0; i < times; i++) {
            try { return await fn(); } catch (e) { if (i === times - 1) throw e; }
          }
        }
        class Client extends Base {
          constructor(url) { super(); this.url = url; }
          fetch(path) { return retry(() => get(this.url + path)); }
        }
        const handler = async (req) => new Client(req.url).fetch("/");
        """,
        [
            ("function", "retry"),
            ("class", "Client"),
            ("method", "Client.constructor"),
            ("method", "Client.fetch"),
            ("function", "handler"),
        ],
    ),
    "src/cache.ts": (
        """\
        interface Store { get(key: string): Promise<string>; }
        export class Cache implements Store {
          @memo()
          async get(key: string): Promise<string> { return this.load(key) ?? ""; }
          private load(key: string): string | undefined { return undefined; }
        }
        export const parse = (s: string): number => parseInt(s, 10);
        """,
        [
            ("class", "Store"),
            ("class", "Cache"),
            ("method", "Cache.get"),
            ("method", "Cache.load"),
            ("function", "parse"),
        ],
    ),
    "ui/Button.tsx": (
        """\
        export function Button({ label }: Props): JSX.Element {
          return <button onClick={() => alert(label)}>{label}</button>;
        }
        """,
        [("function", "Button")],
    ),
    "server.go": (
        """\
        package main

        import (
            "fmt"
            "net/http"
        )

        // Server serves things.
        type Server struct{ addr string }

        // Start starts the server.
        func (s *Server) Start(port int) error {
            if port == 0 {
                return fmt.Errorf("no port")
            }
            return http.ListenAndServe(s.addr, nil)
        }

        func main() { s := &Server{}; s.Start(8080) }
        """,
        [("class", "Server"), ("method", "Server.Start"), ("function", "main")],
    ),
    "src/cache.rs": (
        """\
        use std::collections::HashMap;
        /// A cache.
        pub struct Cache { map: HashMap<String, String> }
        impl Cache {
            /// Get a value.
            pub fn get(&self, key: &str) -> Option<&String> {
                if key.is_empty() { return None; }
                self.map.get(key)
            }
        }
        fn main() { let c = Cache { map: HashMap::new() }; println!("{:?}", c.get("a")); }
        """,
        [("class", "Cache"), ("class", "Cache"), ("method", "Cache.get"), ("function", "main")],
    ),
    "Repo.java": (
        """\
        package x;
        import java.util.List;
        /** A repository. */
        public class Repo {
            /** Find all. */
            @Override
            public List<String> findAll(int limit) {
                if (limit > 0) { return load(limit); }
                return List.of();
            }
            public Repo() { }
        }
        """,
        [("class", "Repo"), ("method", "Repo.findAll"), ("method", "Repo.Repo")],
    ),
    "add.c": (
        """\
        #include <stdio.h>
        /* Add two numbers. */
        static int add(int a, int *b) { return a + *b; }
        int main(void) { printf("%d", add(1, 0)); return 0; }
        """,
        [("function", "add"), ("function", "main")],
    ),
    "socket.cpp": (
        """\
        #include <vector>
        namespace net {
        class Socket {
         public:
          int send(const char* data, int n) { return write(fd, data, n); }
         private:
          int fd;
        };
        }
        int net::Socket::close() { return ::close(fd); }
        """,
        [("class", "net.Socket"), ("method", "net.Socket.send"), ("method", "net.Socket.close")],
    ),
    "client.rb": (
        """\
        require "net/http"
        module Net
          class Client
            # Fetch a page.
            def fetch(path, retries = 3)
              retries.times { |i| return get(path) if ok?(i) }
            end
            def self.build; new; end
          end
        end
        """,
        [
            ("class", "Net"),
            ("class", "Net.Client"),
            ("method", "Net.Client.fetch"),
            ("method", "Net.Client.build"),
        ],
    ),
    "Repo.php": (
        """\
        <?php
        namespace App;
        use App\\Http\\Client;
        class Repo {
            /** Find one. */
            public function find(int $id): ?array {
                if ($id > 0) { return $this->load($id); }
                return null;
            }
        }
        function helper($x) { return strtoupper($x); }
        """,
        [("class", "Repo"), ("method", "Repo.find"), ("function", "helper")],
    ),
    "Handler.cs": (
        """\
        using System.Net;
        namespace App.Web {
          /// <summary>Handles requests.</summary>
          public class Handler {
            [HttpGet]
            public int Handle(string path, int code) {
              if (code > 0) { return Send(path); }
              return 0;
            }
          }
        }
        """,
        [("class", "App.Web.Handler"), ("method", "App.Web.Handler.Handle")],
    ),
}


def chunks_of(path: str, source: str) -> list[Chunk]:
    result = chunk_file(path, textwrap.dedent(source))
    assert not isinstance(result, Skipped), result
    return result


def units(chunks: list[Chunk]) -> list[tuple[str, str]]:
    return [(chunk.kind, chunk.qualified_name) for chunk in chunks if chunk.kind != "module"]


def by_name(chunks: list[Chunk], qualified_name: str) -> Chunk:
    return next(chunk for chunk in chunks if chunk.qualified_name == qualified_name)


@pytest.mark.parametrize("path", sorted(SAMPLES))
def test_every_language_yields_its_units(path):
    source, expected = SAMPLES[path]
    chunks = chunks_of(path, source)
    assert units(chunks) == expected
    for chunk in chunks:
        assert chunk.file_path == path
        assert 1 <= chunk.start_line <= chunk.end_line
        lines = textwrap.dedent(source).splitlines()
        if chunk.kind in ("function", "method"):
            assert chunk.source == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])


def test_python_chunks_and_metadata():
    chunks = chunks_of("pkg/fetch.py", PYTHON)
    assert units(chunks) == [
        ("class", "Fetcher"),
        ("method", "Fetcher.fetch"),
        ("method", "Fetcher.ok"),
        ("function", "main"),
    ]
    fetch = by_name(chunks, "Fetcher.fetch")
    assert (fetch.start_line, fetch.end_line) == (13, 19)  # includes the decorator
    meta = fetch.metadata
    assert meta["signature"] == "def fetch(self, url: str, *, retries: int = 2) -> bytes"
    assert meta["parameters"] == ["self", "url", "retries"]
    assert meta["return_type"] == "bytes"
    assert meta["decorators"] == ["@retry(times=3)"]
    assert meta["docstring"] == "Fetch a URL, retrying on failure."
    assert meta["complexity"] == 4  # radon: for, if, and, + 1
    assert meta["calls"] == ["range", "self.ok", "http_client.get", "self.save", "os.path.join"]
    assert meta["imports"] == ["http_client", "os"]
    assert meta["loc"] == 7


def test_a_method_is_indexed_once():
    chunks = chunks_of("pkg/fetch.py", PYTHON)
    fetcher = by_name(chunks, "Fetcher")
    assert "def fetch(self, url: str, *, retries: int = 2) -> bytes:" in fetcher.source
    assert "range(retries)" not in fetcher.source  # the body lives in the method chunk only
    assert '"""Fetches things over HTTP."""' in fetcher.source
    assert fetcher.metadata["docstring"] == "Fetches things over HTTP."
    assert sum("range(retries)" in chunk.source for chunk in chunks) == 1


def test_module_level_code_is_its_own_chunk():
    chunks = chunks_of("pkg/fetch.py", PYTHON)
    [module] = [chunk for chunk in chunks if chunk.kind == "module"]
    assert "RETRIES = 3" in module.source and 'if __name__ == "__main__":' in module.source
    assert "def " not in module.source
    assert (module.name, module.qualified_name) == ("fetch", "pkg/fetch.py")


@pytest.mark.parametrize(
    ("path", "name", "field", "expected"),
    [
        ("web/client.js", "retry", "docstring", "Retry a request until it succeeds."),
        ("web/client.js", "handler", "signature", "const handler = async (req) =>"),
        ("src/cache.ts", "Cache.get", "decorators", ["@memo()"]),
        ("src/cache.ts", "Cache.get", "return_type", "Promise<string>"),
        ("server.go", "Server.Start", "docstring", "Start starts the server."),
        ("server.go", "Server.Start", "parameters", ["port"]),
        ("server.go", "Server.Start", "complexity", 2),
        ("server.go", "Server.Start", "imports", ["fmt", "http"]),
        ("src/cache.rs", "Cache.get", "return_type", "Option<&String>"),
        ("src/cache.rs", "Cache.get", "calls", ["key.is_empty", "self.map.get"]),
        ("Repo.java", "Repo.findAll", "decorators", ["@Override"]),
        ("Repo.java", "Repo.findAll", "signature", "public List<String> findAll(int limit)"),
        ("Repo.java", "Repo.findAll", "docstring", "Find all."),
        ("add.c", "add", "parameters", ["a", "b"]),
        ("add.c", "main", "parameters", []),
        ("add.c", "add", "docstring", "Add two numbers."),
        ("socket.cpp", "net.Socket.send", "parameters", ["data", "n"]),
        ("client.rb", "Net.Client.fetch", "docstring", "Fetch a page."),
        ("client.rb", "Net.Client.fetch", "complexity", 2),
        ("Repo.php", "Repo.find", "return_type", "?array"),
        ("Handler.cs", "App.Web.Handler.Handle", "decorators", ["[HttpGet]"]),
        ("Handler.cs", "App.Web.Handler", "docstring", "Handles requests."),
    ],
)
def test_metadata_by_language(path, name, field, expected):
    chunk = by_name(chunks_of(path, SAMPLES[path][0]), name)
    assert chunk.metadata[field] == expected


@pytest.mark.parametrize("path", ["client.rb", "Repo.java", "Repo.php", "Handler.cs"])
def test_class_chunks_keep_signatures_and_elide_bodies(path):
    chunks = chunks_of(path, SAMPLES[path][0])
    multi_line = [c for c in chunks if c.kind == "method" and c.end_line - c.start_line >= 2]
    assert multi_line
    for method in multi_line:
        owner = by_name(chunks, method.qualified_name.rsplit(".", 1)[0])
        assert method.metadata["signature"].split("(")[0].split()[-1] in owner.source
        assert "..." in owner.source
        for line in method.source.splitlines()[1:-1]:  # the body, between signature and end
            if f"{method.name}(" not in line:
                assert line.strip() not in owner.source


def test_oversized_function_is_split_at_statements():
    body = "\n".join(f"    total += step({i})" for i in range(MAX_CHUNK_LINES + 50))
    source = f"def long_one(step):\n    total = 0\n{body}\n    return total\n"
    parts = [chunk for chunk in chunks_of("big.py", source) if chunk.kind == "function"]
    assert len(parts) == 2
    assert all(part.qualified_name == "long_one" for part in parts)
    assert parts[0].start_line == 1 and parts[1].end_line == MAX_CHUNK_LINES + 53
    assert parts[0].end_line + 1 == parts[1].start_line
    assert all(part.end_line - part.start_line < MAX_CHUNK_LINES for part in parts)
    assert parts[0].metadata["part_of_lines"] == [1, MAX_CHUNK_LINES + 53]


def test_files_without_grammar_fall_back_to_line_windows():
    text = "\n".join(f"line {i}" for i in range(200))
    chunks = chunks_of("notes/todo.txt", text)
    assert {chunk.kind for chunk in chunks} == {"window"}
    assert chunks[0].start_line == 1 and chunks[-1].end_line == 200
    assert chunks[1].start_line <= chunks[0].end_line  # windows overlap


@pytest.mark.parametrize(
    ("path", "content", "reason"),
    [
        ("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("latin.py", "caf\xe9 = 1".encode("latin-1"), "binary (not UTF-8 text)"),
        (
            "api_pb2.py",
            b"# Generated by the protocol buffer compiler.  DO NOT EDIT!\nx = 1\n",
            "generated",
        ),
        ("vendor/app.min.js", b"var a=1;", "minified"),
        ("bundle.js", b"x" * 5000 + b"\n", "minified"),
        ("huge.py", b"x = 1\n" * 200_000, "larger than 1000000 bytes (CODE_INDEX_MAX_FILE_BYTES)"),
    ],
)
def test_files_skipped_with_a_reason(path, content, reason):
    result = chunk_file(path, content)
    assert result == Skipped(path, reason)


@pytest.mark.parametrize(
    "header",
    [
        "// Code generated by protoc-gen-go. DO NOT EDIT.\npackage api\n",
        "/*\n * @generated by a tool\n */\nint x;\n",
        '"""Auto-generated by the schema compiler."""\nX = 1\n',
    ],
)
def test_generated_notices_in_header_comments(header):
    assert skip_reason("x.go", header.encode()) == "generated"


def test_markers_outside_a_header_comment_are_not_a_generated_file():
    detector = 'MARKERS = ("@generated", "do not edit")\n\n\ndef looks_generated(text):\n    ...\n'
    assert skip_reason("detector.py", detector.encode()) is None
    late = "x = 1\n" * 20 + "# DO NOT EDIT below this line\n"
    assert skip_reason("late.py", late.encode()) is None


def test_declared_language_wins_over_the_extension():
    chunks = chunks_of("script", "def run():\n    return 1\n")
    assert {chunk.kind for chunk in chunks} == {"window"}
    result = chunk_file("script", "def run():\n    return 1\n", language="python")
    assert not isinstance(result, Skipped)
    assert units(result) == [("function", "run")]
