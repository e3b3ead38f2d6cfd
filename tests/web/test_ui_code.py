"""The web UI's code pages: repositories, uploads with progress, code search."""

import asyncio
import html
import re
import time
import uuid

import httpx

from tests.support.archives import make_tar, make_zip

HTMX = {"HX-Request": "true"}
PYTHON = (
    "def compute_invoice_total(items):\n"
    '    """Sum the invoice lines."""\n'
    "    return sum(item.price for item in items)\n"
)
JAVASCRIPT = "function formatInvoiceDate(d) {\n  return d.toISOString();\n}\n"
README = "# Billing\n\nInvoices are computed here.\n"
LATIN1 = "prénom = 'é'\n".encode("latin-1")


def job_id_of(page: str) -> str:
    found = re.search(r'data-job-id="([0-9a-f-]{36})"', page)
    assert found, page
    return found.group(1)


def status_of(page: str) -> str:
    found = re.search(r'data-testid="job-status"[^>]*>(\w+)<', page)
    assert found, page
    return found.group(1)


async def wait_for_job(client: httpx.AsyncClient, job_id: str) -> httpx.Response:
    """Poll the progress fragment as htmx does until the job ends."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = await client.get(f"/ui/code/jobs/{job_id}", headers={**HTMX, "HX-Target": "job"})
        assert response.status_code == 200, response.text
        if status_of(response.text) in ("succeeded", "failed"):
            return response
        assert 'hx-get="/ui/code/jobs/' in response.text  # still polling
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in 60 s")


async def upload(
    client: httpx.AsyncClient, repository: str, files: list[tuple[str, tuple[str, bytes]]]
) -> httpx.Response:
    return await client.post(
        "/ui/code/upload",
        data={"repository": repository},
        files=files,
        headers={**HTMX, "HX-Target": "indexing"},
    )


async def upload_and_wait(
    client: httpx.AsyncClient, repository: str, files: list[tuple[str, tuple[str, bytes]]]
) -> tuple[httpx.Response, httpx.Response]:
    queued = await upload(client, repository, files)
    assert queued.status_code == 202, queued.text
    return queued, await wait_for_job(client, job_id_of(queued.text))


async def indexed_paths(conn, repository: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT path FROM code_files WHERE repository = $1 ORDER BY path", repository
    )
    return [row["path"] for row in rows]


async def test_code_page_empty_state_form_and_fragments(client):
    page = await client.get("/ui/code")
    assert page.status_code == 200 and page.headers["vary"] == "HX-Request"
    assert page.text.startswith("<!doctype html>")
    assert 'aria-current="page">Code<' in page.text.replace('href="/ui/code" ', "")
    assert "No repositories indexed yet" in page.text
    for marker in (
        'id="upload-form"',
        'hx-post="/ui/code/upload"',
        'hx-encoding="multipart/form-data"',
        'id="upload-repository" name="repository"',
        'id="upload-files" name="files" type="file" multiple',
        'id="upload-folder" name="folder" type="file" webkitdirectory',
        'id="upload-archive" name="archive" type="file" accept=".zip,.tar,.tar.gz,.tgz',
        'hx-trigger="repositories-changed from:body"',
        "/static/js/code.js",
    ):
        assert marker in page.text, marker
    table = await client.get("/ui/code", headers={**HTMX, "HX-Target": "repositories"})
    assert "<form" not in table.text and "<h1" not in table.text
    assert "No repositories indexed yet" in table.text
    content = await client.get("/ui/code", headers=HTMX)
    assert "<html" not in content.text and "<h1" in content.text and "<form" in content.text
    script = await client.get("/static/js/code.js")
    assert script.status_code == 200 and "webkitRelativePath" in script.text
    site = await client.get("/static/js/mnemolite.js")  # 4xx alerts are swapped in everywhere
    assert site.status_code == 200 and "htmx:beforeSwap" in site.text


async def test_upload_of_files_shows_progress_until_done(client, conn):
    files = [
        ("files", ("billing.py", PYTHON.encode())),
        ("files", ("README.md", README.encode())),
        ("files", ("names.py", LATIN1)),
        ("files", ("blob.py", b"x = 1\x00\x01\x02")),
    ]
    queued = await upload(client, "billing", files)
    assert queued.status_code == 202
    fragment = queued.text
    assert "<html" not in fragment and "<form" not in fragment  # the indexing block only
    assert status_of(fragment) in ("queued", "running")
    assert 'data-testid="job-progress" max="100"' in fragment
    assert 'hx-trigger="load delay:1s"' in fragment and 'hx-swap="outerHTML"' in fragment
    # The non-UTF-8 file is left out at upload, as a per-file error.
    assert re.search(r"<code>names.py</code></td><td>not UTF-8 text<", fragment)

    job_id = job_id_of(fragment)
    done = await wait_for_job(client, job_id)
    assert status_of(done.text) == "succeeded"
    assert done.headers["HX-Trigger"] == "repositories-changed"
    assert 'value="100"' in done.text and 'data-testid="job-percent">100%<' in done.text
    assert 'data-testid="job-files">3 / 3 files<' in done.text
    assert "hx-get" not in done.text  # polling stops
    assert "<html" not in done.text and done.text.lstrip().startswith('<div id="job"')
    # The binary file reached the job and was skipped there, shown in the job's table.
    assert re.search(r"<code>blob.py</code></td><td>binary<", done.text)
    assert await indexed_paths(conn, "billing") == ["README.md", "billing.py"]

    page = await client.get(f"/ui/code/jobs/{job_id}")
    assert page.status_code == 200 and "<html" in page.text and "Index job" in page.text

    listing = (await client.get("/ui/code")).text
    row = re.search(
        r'<tr data-testid="repository-row" data-repository="billing">.*?</tr>', listing, re.S
    )
    assert row, listing
    assert 'data-testid="repository-files">2<' in row.group(0)
    assert 'hx-delete="/ui/code/repositories/billing"' in row.group(0)
    assert 'href="/ui/code/search?repository=billing"' in row.group(0)
    assert 'href="/ui/code/graph?repository=billing"' in row.group(0)


async def test_upload_of_a_folder_keeps_its_inner_paths(client, conn):
    files = [
        ("folder", ("shop/src/billing.py", PYTHON.encode())),
        ("folder", ("shop/web/format.js", JAVASCRIPT.encode())),
        ("folder", ("shop/.git/config", b"[core]\n")),
    ]
    queued, done = await upload_and_wait(client, "shop", files)
    assert status_of(done.text) == "succeeded"
    assert "inside .git/" in queued.text
    assert await indexed_paths(conn, "shop") == ["src/billing.py", "web/format.js"]


async def test_upload_of_a_zip_rejects_unsafe_members(client, conn):
    archive = make_zip(
        {
            "proj-1.0/billing.py": PYTHON.encode(),
            "proj-1.0/lib/format.js": JAVASCRIPT.encode(),
            "proj-1.0/names.txt": LATIN1,
            "../evil.py": b"import os\n",
        }
    )
    queued, done = await upload_and_wait(client, "zipped", [("archive", ("proj.zip", archive))])
    text = html.unescape(queued.text)
    assert re.search(r"<code>\.\./evil\.py</code></td><td>unsafe path: parent folder", text)
    assert re.search(r"<code>proj-1\.0/names\.txt</code></td><td>not UTF-8 text<", text)
    assert status_of(done.text) == "succeeded" and 'value="100"' in done.text
    assert await indexed_paths(conn, "zipped") == ["billing.py", "lib/format.js"]


async def test_upload_of_a_tar_gz_rejects_unsafe_members(client, conn):
    archive = make_tar(
        {
            "proj/billing.py": PYTHON.encode(),
            "proj/../../evil.py": b"import os\n",
            "proj/names.py": LATIN1,
        }
    )
    queued, done = await upload_and_wait(client, "tarred", [("archive", ("proj.tar.gz", archive))])
    text = html.unescape(queued.text)
    assert "proj/../../evil.py</code></td><td>unsafe path" in text
    assert "<code>proj/names.py</code></td><td>not UTF-8 text" in text
    assert status_of(done.text) == "succeeded"
    assert await indexed_paths(conn, "tarred") == ["billing.py"]


async def test_upload_errors_are_alerts_not_failures(client):
    one_file = [("files", ("a.py", b"a = 1\n"))]
    cases = [
        ("", one_file, "Give the repository a name."),
        ("/absolute", one_file, "Invalid repository name"),
        ("x" * 201, one_file, "Invalid repository name"),
        ("demo", [], "Choose files, a folder or an archive"),
        ("demo", [("archive", ("broken.zip", b"PK\x03\x04 nope"))], "not a readable archive"),
        ("demo", [("archive", ("code.py", b"x = 1\n"))], "is not an archive"),
        ("demo", [("files", ("latin.py", LATIN1))], "Nothing to index"),
    ]
    for name, files, message in cases:
        response = await client.post(
            "/ui/code/upload",
            data={"repository": name},
            files=files or None,
            headers={**HTMX, "HX-Target": "indexing"},
        )
        assert response.status_code == 422, (name, response.text)
        assert 'role="alert"' in response.text and message in response.text, response.text
        assert "data-job-id" not in response.text
    everything_dropped = await client.post(
        "/ui/code/upload",
        data={"repository": "demo"},
        files=[("files", ("latin.py", LATIN1))],
        headers={**HTMX, "HX-Target": "indexing"},
    )
    assert "latin.py</code></td><td>not UTF-8 text" in everything_dropped.text
    not_multipart = await client.post("/ui/code/upload", content=b"x", headers=HTMX)
    assert not_multipart.status_code == 422 and 'role="alert"' in not_multipart.text
    malformed = await client.post(
        "/ui/code/upload",
        content=b"garbage",
        headers={**HTMX, "HX-Target": "indexing", "Content-Type": "multipart/form-data"},
    )
    assert malformed.status_code == 400 and "Missing boundary" in malformed.text
    assert 'role="alert"' in malformed.text
    # Without htmx (the form's plain POST) the whole page comes back, with the alert in it.
    page = await client.post("/ui/code/upload", data={"repository": ""}, files=one_file)
    assert (
        page.status_code == 422
        and "<html" in page.text
        and "Give the repository a name." in page.text
    )


async def test_unknown_job_is_a_clear_not_found(client):
    missing = uuid.uuid4()
    page = await client.get(f"/ui/code/jobs/{missing}")
    assert page.status_code == 404 and "<html" in page.text
    assert f"No index job with id {missing}." in page.text and 'role="alert"' in page.text
    fragment = await client.get(f"/ui/code/jobs/{missing}", headers={**HTMX, "HX-Target": "job"})
    assert fragment.status_code == 404 and "<html" not in fragment.text
    assert 'id="job"' in fragment.text and "hx-get" not in fragment.text  # polling stops
    garbage = await client.get("/ui/code/jobs/not-a-uuid")
    assert garbage.status_code == 404 and "No index job with id not-a-uuid." in garbage.text


async def test_delete_repository_refreshes_the_table(client):
    for name in ("keep", "org/drop me"):
        await client.post(
            "/v1/code/index",
            json={"repository": name, "files": [{"path": "a.py", "content": PYTHON}]},
        )
    page = (await client.get("/ui/code")).text
    assert 'hx-delete="/ui/code/repositories/org/drop%20me"' in page
    assert 'hx-confirm="Delete the index of org/drop me? This cannot be undone."' in page
    deleted = await client.delete(
        "/ui/code/repositories/org/drop%20me", headers={**HTMX, "HX-Target": "repositories"}
    )
    assert deleted.status_code == 200
    assert "<form" not in deleted.text  # the repositories block only
    assert "Deleted org/drop me: 1 files, 1 chunks." in deleted.text
    assert (
        'data-repository="keep"' in deleted.text
        and 'data-repository="org/drop me"' not in deleted.text
    )
    again = await client.delete(
        "/ui/code/repositories/org/drop%20me", headers={**HTMX, "HX-Target": "repositories"}
    )
    assert again.status_code == 404 and 'role="alert"' in again.text
    assert "No indexed repository named &#39;org/drop me&#39;." in again.text
    assert 'data-repository="keep"' in again.text


async def index_demo(client: httpx.AsyncClient) -> None:
    files = [
        ("files", ("billing.py", PYTHON.encode())),
        ("files", ("web/format.js", JAVASCRIPT.encode())),
        ("files", ("README.md", README.encode())),
    ]
    _, done = await upload_and_wait(client, "demo", files)
    assert status_of(done.text) == "succeeded"
    await client.post(
        "/v1/code/index",
        json={"repository": "other", "files": [{"path": "o.py", "content": PYTHON}]},
    )


def hits(page: str) -> list[str]:
    return re.findall(r'data-testid="hit-name">([^<]+)<', page)


async def test_code_search_in_each_mode_with_filters(client):
    await index_demo(client)
    page = await client.get("/ui/code/search")
    assert page.status_code == 200 and "<html" in page.text
    assert "Type to search your code." in page.text
    assert "/static/vendor/highlight-11.12.0.min.js" in page.text
    assert "highlight-11.12.0-github.min.css" in page.text
    for option in ("demo", "other", "python", "javascript", "text", "function"):
        assert f'<option value="{option}"' in page.text, option
    assert 'hx-trigger="input changed delay:300ms from:#code-query' in page.text

    lexical = await client.get(
        "/ui/code/search",
        params={"q": "invoice total", "mode": "lexical", "repository": "demo"},
        headers={**HTMX, "HX-Target": "results"},
    )
    assert lexical.status_code == 200
    assert "<form" not in lexical.text and "<h1" not in lexical.text  # the results only
    assert hits(lexical.text)[0] == "compute_invoice_total"
    first = re.search(r'<li class="code-hit".*?</li>', lexical.text, re.S).group(0)
    assert 'data-testid="hit-location">demo: billing.py:1-3<' in first
    assert (
        'data-testid="hit-kind">function<' in first
        and 'data-testid="hit-language">python<' in first
    )
    assert 'data-testid="score-lexical">' in first
    assert '<pre><code class="language-python">def compute_invoice_total' in first
    chunk_id = re.search(r'data-chunk-id="([0-9a-f-]{36})"', first).group(1)
    assert f'href="/ui/code/chunks/{chunk_id}"' in first
    assert f'href="/ui/code/graph?chunk={chunk_id}"' in first

    hybrid = await client.get(
        "/ui/code/search", params={"q": "invoice", "mode": "hybrid", "repository": "demo"}
    )
    assert "<html" in hybrid.text and 'data-testid="score-fused">' in hybrid.text
    assert "Lexical</dt><dd>rank" in hybrid.text and "Vector (text)</dt>" in hybrid.text
    assert 'data-testid="score-contribution">' in hybrid.text
    assert "demo: " in hybrid.text and "other: " not in hybrid.text
    assert '<option value="demo" selected>' in hybrid.text
    assert 'value="hybrid" checked' in hybrid.text

    vector = await client.get(
        "/ui/code/search", params={"q": "format a date", "mode": "vector", "language": "javascript"}
    )
    assert hits(vector.text) == ["formatInvoiceDate"]
    assert 'data-testid="score-similarity">' in vector.text
    assert 'class="language-javascript"' in vector.text

    by_kind = await client.get(
        "/ui/code/search", params={"q": "invoices", "mode": "vector", "kind": "window"}
    )
    assert 'class="language-plaintext"' in by_kind.text  # "text" is highlight.js's plaintext
    assert set(re.findall(r'data-testid="hit-kind">(\w+)<', by_kind.text)) == {"window"}
    everywhere = await client.get(
        "/ui/code/search", params={"q": "compute_invoice_total", "mode": "lexical"}
    )
    assert "demo: billing.py" in everywhere.text and "other: o.py" in everywhere.text


async def test_code_search_empty_and_error_states(client):
    await index_demo(client)
    nothing = await client.get(
        "/ui/code/search", params={"q": "zebra giraffe", "mode": "lexical"}, headers=HTMX
    )
    assert nothing.status_code == 200 and "No code found for “zebra giraffe”." in nothing.text
    too_long = await client.get(
        "/ui/code/search", params={"q": "x" * 2001}, headers={**HTMX, "HX-Target": "results"}
    )
    assert too_long.status_code == 422 and 'role="alert"' in too_long.text
    assert "Query: String should have at most 2000 characters" in too_long.text
    bad_mode = await client.get("/ui/code/search", params={"q": "x", "mode": "telepathy"})
    assert bad_mode.status_code == 422 and "Unknown mode &#39;telepathy&#39;" in bad_mode.text
    bad_filter = await client.get("/ui/code/search", params={"q": "x", "kind": "k" * 41})
    assert (
        bad_filter.status_code == 422 and "Kind: String should have at most 40" in bad_filter.text
    )
    stale = await client.get("/ui/code/search", params={"q": "x", "repository": "gone"})
    assert stale.status_code == 200 and '<option value="gone" selected>' in stale.text
    assert "No code found" in stale.text


async def test_an_upload_over_the_body_limit_is_an_alert(client, settings):
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.py"\r\n\r\n'
    ).encode()

    async def body():  # streamed, without Content-Length: the limit applies while reading
        yield head
        for _ in range(settings.max_request_bytes // (1024 * 1024) + 1):
            yield b"x" * 1024 * 1024

    response = await client.post(
        "/ui/code/upload",
        content=body(),
        headers={
            **HTMX,
            "HX-Target": "indexing",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert response.status_code == 413 and 'role="alert"' in response.text
    assert "MAX_REQUEST_BYTES" in response.text
