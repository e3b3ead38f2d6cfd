"""Small code repositories the tests index: their sources and the `files` payload of a request."""

RETRY_PY = '''\
"""Retry helpers."""
import time


def retry(fn, attempts=3):
    """Call fn until it succeeds."""
    for attempt in range(attempts):
        try:
            return fn()
        except OSError:
            time.sleep(2 ** attempt)


class Client:
    def get(self, url):
        return retry(lambda: self.fetch(url))

    def fetch(self, url):
        return url
'''
FORMAT_JS = "export function formatDate(d) { return d.toISOString(); }\n"
MAIN_GO = 'package main\n\nfunc main() { println("hi") }\n'
RUN_PY = """\
from app.http import Client


def run():
    return Client().get("https://example.org")
"""
# Two Python files whose calls make a graph: run -> Client.get -> retry, Client.fetch.
GRAPH_FILES = {"app/http.py": RETRY_PY, "app/main.py": RUN_PY}


def payload(contents: dict[str, str]) -> list[dict[str, str]]:
    """The `files` of an index request, one entry per path."""
    return [{"path": path, "content": content} for path, content in contents.items()]


def module(i: int) -> dict[str, str]:
    """One small Python file (a handler calling a processor), numbered: for many-file repos."""
    body = (
        f"def handler_{i}(event):\n    return process_{i}(event)\n\n\n"
        f"def process_{i}(e):\n    return e\n"
    )
    return {"path": f"pkg/module_{i:03d}.py", "content": body}
