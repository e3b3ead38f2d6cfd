"""`make index`: walk a directory with .gitignore rules and index it through the service."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from scripts.index_dir import index_directory, source_files
from scripts.serve import spawn

ROOT = Path(__file__).resolve().parents[2]


def make_tree(root):
    files = {
        ".gitignore": "*.log\nbuild/\n",
        "src/app.py": "def main():\n    return helper()\n\n\ndef helper():\n    return 1\n",
        "src/app.log": "noise\n",
        "build/out.py": "x = 1\n",
        "sub/.gitignore": "secret.txt\n/local.py\n",
        "sub/secret.txt": "token\n",
        "sub/local.py": "y = 2\n",
        "sub/deeper/local.py": "z = 3\n",
        "sub/keep.js": "export function keep() { return 1; }\n",
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "logo.png").write_bytes(b"\x89PNG\x00\x00data")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")


def test_walk_applies_gitignore_and_skips_binaries(tmp_path):
    make_tree(tmp_path)
    paths = [path for path, _ in source_files(tmp_path)]
    assert paths == [
        ".gitignore",
        "src/app.py",
        "sub/.gitignore",
        "sub/deeper/local.py",  # `/local.py` in sub/.gitignore is anchored to sub/
        "sub/keep.js",
    ]


def test_index_directory_through_the_service(tmp_path):
    make_tree(tmp_path / "repo")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": "",
        "EMBEDDING_MODE": "mock",
        "LOG_LEVEL": "warning",
    }
    server = spawn(env, port=port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            summary = index_directory(client, tmp_path / "repo", "demo")
            assert summary["files_seen"] == 5 and summary["batches"] == 1
            assert summary["indexed_files"] == 5 and summary["indexed_chunks"] > 0
            again = index_directory(client, tmp_path / "repo", "demo")
            assert again["unchanged_files"] == 5 and again["indexed_files"] == 0
            (tmp_path / "repo" / "sub" / "keep.js").unlink()
            after = index_directory(client, tmp_path / "repo", "demo")
            assert after["removed_files"] == 1  # one batch: sent as a full snapshot
            listing = client.get("/v1/code/index/repositories").json()["repositories"]
            assert listing[0]["repository"] == "demo" and listing[0]["file_count"] == 4

            # --tenant indexes into another tenant (X-Tenant), and only there.
            assert client.post("/v1/admin/tenants", json={"name": "acme"}).status_code == 201
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "scripts.index_dir",
                    str(tmp_path / "repo"),
                    "--repo",
                    "theirs",
                    "--tenant",
                    "acme",
                    "--url",
                    f"http://127.0.0.1:{port}",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, **env},
            )
            assert done.returncode == 0, done.stderr
            theirs = client.get("/v1/code/index/repositories", headers={"X-Tenant": "acme"})
            assert [r["repository"] for r in theirs.json()["repositories"]] == ["theirs"]
            mine = client.get("/v1/code/index/repositories").json()["repositories"]
            assert [r["repository"] for r in mine] == ["demo"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_index_dir(directory, *, url: str, cwd, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`make index` as an operator runs it: a fresh process, its settings from env and cwd/.env."""
    child_env = {
        key: value
        for key, value in os.environ.items()
        if key != "API_KEY" and not key.startswith(("PORT", "HOST"))
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.index_dir",
            str(directory),
            "--repo",
            "keyed",
            "--url",
            url,
        ],
        cwd=cwd,
        env={**child_env, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_index_dir_sends_the_api_key_from_the_environment_or_dotenv(tmp_path):
    make_tree(tmp_path / "repo")
    key = "k3y-" + "x" * 28
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": "",
        "EMBEDDING_MODE": "mock",
        "LOG_LEVEL": "warning",
        "API_KEY": key,
    }
    server = spawn(env, port=port)
    url = f"http://127.0.0.1:{port}"
    operator = tmp_path / "operator"
    operator.mkdir()
    try:
        from_env = run_index_dir(tmp_path / "repo", url=url, cwd=operator, env={"API_KEY": key})
        assert from_env.returncode == 0, from_env.stderr
        assert "indexed_files=5" in from_env.stdout

        (operator / ".env").write_text(f"# the service's settings\nAPI_KEY={key}\n")
        from_dotenv = run_index_dir(tmp_path / "repo", url=url, cwd=operator, env={})
        assert from_dotenv.returncode == 0, from_dotenv.stderr
        assert "unchanged_files=5" in from_dotenv.stdout

        # The environment wins over .env, as it does for the service.
        wrong = run_index_dir(tmp_path / "repo", url=url, cwd=operator, env={"API_KEY": "nope"})
        assert wrong.returncode == 1
        assert "refused the API key (401)" in wrong.stderr and key not in wrong.stderr

        (operator / ".env").unlink()
        missing = run_index_dir(tmp_path / "repo", url=url, cwd=operator, env={})
        assert missing.returncode == 1
        assert "requires an API key (401): set API_KEY" in missing.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)
