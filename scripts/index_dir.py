"""`make index path=DIR repo=NAME`: index a local directory through the running service.

Walks DIR, leaves out what `.gitignore` files (at any depth) and `.git/` exclude, binary files
(a NUL byte in the first 8 kB) and files over 1 MB, and posts the rest to POST /v1/code/index in
batches, with a progress bar. Unchanged files are skipped by the server (content hash). When the
whole directory fits in one request it is sent as a full snapshot, so files deleted since the
last run leave the index; otherwise a note says how to remove them.

When the service has an API key, the same API_KEY (environment, else `.env`) is sent as
`Authorization: Bearer`; the default URL follows HOST and PORT the same way.

Usage: python -m scripts.index_dir DIR --repo NAME [--url http://127.0.0.1:8001]
"""

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pathspec
from tqdm import tqdm

from scripts.service_client import auth_headers, default_url, refusal

MAX_FILE_BYTES = 1_000_000
BATCH_FILES = 200
BATCH_BYTES = 8 * 1024 * 1024


def ignore_spec(root: Path) -> pathspec.PathSpec:
    """Every .gitignore under root, with its patterns anchored to its own folder."""
    lines = [".git/"]
    for ignore_file in sorted(root.rglob(".gitignore")):
        base = ignore_file.parent.relative_to(root).as_posix()
        for raw in ignore_file.read_text(errors="replace").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate, pattern = ("!", line[1:]) if line.startswith("!") else ("", line)
            if base != ".":
                pattern = (
                    f"{base}/{pattern.lstrip('/')}"
                    if "/" in pattern.rstrip("/")
                    else (f"{base}/**/{pattern}")
                )
            lines.append(negate + pattern)
    return pathspec.PathSpec.from_lines("gitignore", lines)


def source_files(root: Path) -> Iterator[tuple[str, str]]:
    """(relative path, text) of every file worth indexing, in path order."""
    spec = ignore_spec(root)
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if not path.is_file() or path.is_symlink() or spec.match_file(relative):
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            continue
        data = path.read_bytes()
        if b"\x00" in data[:8192]:
            continue
        try:
            yield relative, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


def batches(files: list[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    size = 0
    for item in files:
        item_size = len(item[1].encode("utf-8"))
        if batch and (len(batch) >= BATCH_FILES or size + item_size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


def index_directory(client: httpx.Client, root: Path, repository: str) -> dict[str, Any]:
    files = list(source_files(root))
    groups = list(batches(files))
    totals = {"indexed_files": 0, "unchanged_files": 0, "indexed_chunks": 0, "removed_files": 0}
    errors: list[dict[str, str]] = []
    with tqdm(total=len(files), unit="file", desc=repository, file=sys.stderr) as progress:
        for position, group in enumerate(groups):
            body = {
                "repository": repository,
                "files": [{"path": path, "content": text} for path, text in group],
                "full_snapshot": len(groups) == 1,
                "build_graph": position == len(groups) - 1,  # once, when everything is in
            }
            response = client.post("/v1/code/index", json=body, timeout=600)
            refused = refusal(response)
            if refused:
                raise SystemExit(refused)
            if response.status_code != 201:
                raise SystemExit(f"indexing failed ({response.status_code}): {response.text}")
            result = response.json()
            for key in totals:
                totals[key] += result[key]
            errors += result["errors"] + result["skipped_files"]
            progress.update(len(group))
    return {**totals, "files_seen": len(files), "batches": len(groups), "problems": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--repo", required=True, help="repository name in the index")
    parser.add_argument("--url", help="the running service (default: from HOST and PORT)")
    parser.add_argument(
        "--tenant", help="the tenant to index into (X-Tenant; the operator's key only)"
    )
    args = parser.parse_args()
    if not args.path.is_dir():
        raise SystemExit(f"{args.path} is not a directory")
    args.url = args.url or default_url()
    try:
        headers = {**auth_headers(), **({"X-Tenant": args.tenant} if args.tenant else {})}
        with httpx.Client(base_url=args.url, headers=headers) as client:
            summary = index_directory(client, args.path.resolve(), args.repo)
    except httpx.ConnectError:
        raise SystemExit(f"No MnemoLite at {args.url}: start it with `make run`.") from None
    for problem in summary.pop("problems"):
        sys.stderr.write(f"skipped {problem['file']}: {problem['error']}\n")
    sys.stdout.write(" ".join(f"{key}={value}" for key, value in summary.items()) + "\n")
    if summary["batches"] > 1:
        sys.stdout.write(
            "The directory took several requests, so files deleted since the last run stay "
            "indexed; DELETE /v1/code/index/repositories/NAME and run again to drop them.\n"
        )


if __name__ == "__main__":
    main()
