"""Backup with pg_dump (custom format) and restore with pg_restore into a fresh database.

A restore never writes into the live database. It loads the archive into `<name>_restoring`,
checks it, and only then swaps the names in one transaction (two ALTER DATABASE ... RENAME),
so a corrupt archive, a full disk or an interrupt leaves the old database exactly as it was.
`pg_restore --clean` into the live database was rejected: objects absent from the archive
(a newer schema's tables) would survive next to the restored ones, and without
--single-transaction a failure leaves a half-restored database.
"""

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import structlog

from api.core.migrations import head_revision, upgrade
from api.core.schema.service import SchemaMismatch, read_schema_sync, verify
from api.ops.backup import repository
from api.ops.backup.pg_tools import run
from api.ops.backup.schemas import (
    ArchiveInfo,
    BackupResult,
    RestorePlan,
    RestoreResult,
    SchemaStatus,
)
from api.ops.backup.target import OperationFailed, Target, derived_name

log = structlog.get_logger(__name__)

RESTORING_SUFFIX = "_restoring"
REPLACED_SUFFIX = "_replaced"
MAINTENANCE_DATABASES = ("postgres", "template1")
SESSION_GRACE_SECONDS = 2.0  # how long a closing session may take to leave pg_stat_activity


def default_backup_path(directory: Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return directory / f"mnemolite-{stamp}.dump"


# gzip level 1. Vectors are float noise to a compressor: on 100k 384-d events the default
# level took 46 s for 180 MB, level 1 took 5 s for 211 MB (most of it the vectors).
DEFAULT_COMPRESSION = 1


def backup(
    target: Target, output: Path, *, bin_dir: Path, compression: int = DEFAULT_COMPRESSION
) -> BackupResult:
    """Dump `target` to `output` (custom format); the file appears only once it is complete."""
    if output.exists():
        raise OperationFailed(f"{output} already exists: choose another file name")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    started = time.monotonic()
    # The archive holds every memory in clear: readable by its owner only, from the start.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        run(
            bin_dir,
            "pg_dump",
            [
                "--format=custom",
                f"--compress={compression}",
                f"--file={partial}",
                f"--dbname={target.url}",
            ],
            target,
        )
        partial.rename(output)
    finally:
        partial.unlink(missing_ok=True)
    seconds = time.monotonic() - started
    with _cursor(target) as cursor:
        revision = read_schema_sync(cursor).revision
    size = output.stat().st_size
    log.info("backup_written", path=str(output), bytes=size, seconds=round(seconds, 2))
    return BackupResult(
        path=output, size_bytes=size, seconds=seconds, database=target.database, revision=revision
    )


def inspect_archive(path: Path, *, bin_dir: Path) -> ArchiveInfo:
    """Read the archive's table of contents; fail clearly if it is missing or not ours."""
    if not path.is_file():
        raise OperationFailed(f"backup file not found: {path}")
    try:
        listing = run(bin_dir, "pg_restore", ["--format=custom", "--list", str(path)])
    except OperationFailed as error:
        raise OperationFailed(
            f"{path} is not a readable pg_dump custom-format archive: {error}"
        ) from None
    if not re.search(r"^\d+;.* TABLE public alembic_version ", listing, re.MULTILINE):
        raise OperationFailed(
            f"{path} holds no alembic_version table: not a backup of a MnemoLite database"
        )

    def header(label: str) -> str | None:
        found = re.search(rf"^;\s+{label}:?\s+(.+)$", listing, re.MULTILINE)
        return found.group(1).strip() if found else None

    return ArchiveInfo(
        path=path,
        created_at=header("Archive created at"),
        source_database=header("dbname"),
        server_version=header("Dumped from database version"),
        entries=len(re.findall(r"^\d+;", listing, re.MULTILINE)),
    )


def plan_restore(target: Target, archive: Path, *, bin_dir: Path) -> RestorePlan:
    """What a restore of `archive` into `target` would replace; changes nothing."""
    info = inspect_archive(archive, bin_dir=bin_dir)
    with _cursor(_maintenance(target)) as cursor:
        exists = repository.database_exists(cursor, target.database)
        sessions = _sessions_after_grace(cursor, target.database) if exists else 0
    revision = None
    if exists:
        with _cursor(target) as cursor:
            revision = read_schema_sync(cursor).revision
    return RestorePlan(
        archive=info,
        database=target.database,
        exists=exists,
        revision=revision,
        other_sessions=sessions,
    )


def restore(
    target: Target,
    archive: Path,
    *,
    bin_dir: Path,
    expected_dimension: int,
    run_upgrade: bool = False,
    jobs: int = 1,
) -> RestoreResult:
    """Replace `target`'s content with `archive`; on any failure `target` is left untouched."""
    started = time.monotonic()
    staging = target.with_database(derived_name(target.database, RESTORING_SUFFIX))
    maintenance: Target | None = None
    try:
        inspect_archive(archive, bin_dir=bin_dir)
        maintenance = _maintenance(target)
        with _cursor(maintenance) as cursor:
            exists = repository.database_exists(cursor, target.database)
            if exists:
                _refuse_if_busy(cursor, target.database)
            # Leftovers of an interrupted restore: a staging copy never swapped in, or the
            # database an earlier restore replaced but did not get to drop.
            repository.drop_database(cursor, staging.database)
            repository.drop_database(cursor, _replaced_name(target))
            repository.create_database(cursor, staging.database)
            repository.ensure_service_roles(cursor)  # before the archive's policies name them
        revision, dimension, schema = _load(staging, archive, bin_dir, run_upgrade, jobs)
        _swap(maintenance, target=target.database, staging=staging.database)
    except BaseException as error:
        # Also on Ctrl-C: the staging copy goes; the live database was never touched.
        if maintenance is not None:
            _drop_quietly(maintenance, staging.database)
        if isinstance(error, OperationFailed):
            raise OperationFailed(
                f"{str(error).rstrip('.')}. The database {target.database!r} was not changed."
            ) from None
        raise
    # The restore is done; a copy left by a failed drop only takes space until the next one.
    _drop_quietly(maintenance, _replaced_name(target))
    seconds = time.monotonic() - started
    log.info("restore_done", database=target.database, revision=revision, seconds=round(seconds, 2))
    return RestoreResult(
        database=target.database,
        replaced=exists,
        seconds=seconds,
        revision=revision,
        head=head_revision(),
        schema_status=schema,
        dimension=dimension,
        expected_dimension=expected_dimension,
    )


def _load(
    staging: Target, archive: Path, bin_dir: Path, run_upgrade: bool, jobs: int
) -> tuple[str, int | None, SchemaStatus]:
    """pg_restore into the empty `staging` database, check its revision, upgrade if asked."""
    log.info("restore_loading", archive=str(archive), staging=staging.database)
    run(
        bin_dir,
        "pg_restore",
        [
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            f"--jobs={jobs}",
            f"--dbname={staging.url}",
            str(archive),
        ],
        staging,
    )
    with _cursor(staging) as cursor:
        schema = read_schema_sync(cursor)
    try:
        # Older than head is fine (reported, or upgraded below); a wrong vector size is only
        # reported, since the restored database may be meant for other settings.
        verify(schema, dimension=None, require="known")
    except SchemaMismatch as error:
        raise OperationFailed(f"{archive} (the backup): {error}") from None
    assert schema.revision is not None  # verified
    status: SchemaStatus = "current"
    if not schema.at_head:
        status = "upgraded" if run_upgrade else "behind"
    if status == "upgraded":
        log.info("restore_upgrading", revision=schema.revision, head=schema.head)
        upgrade(staging.libpq_url())
    with _cursor(staging) as cursor:
        # The archive's grants were left out (--no-privileges): the service's roles get back
        # their own. Before 0011 there are no such roles to serve (the upgrade grants them).
        if repository.has_tenancy(cursor):
            repository.grant_service_roles(cursor)
    return schema.revision, schema.dimension, status


def _sessions_after_grace(cursor: repository.Cursor, database: str) -> int:
    """Other sessions on `database`, once those already closing have had time to go.

    A client that has just disconnected (this module's own look at the schema, a script that
    stopped) stays in pg_stat_activity until its backend exits, which takes milliseconds
    (PostgreSQL itself waits up to 5 seconds for such sessions before refusing a rename).
    """
    deadline = time.monotonic() + SESSION_GRACE_SECONDS
    sessions = repository.other_sessions(cursor, database)
    while sessions and time.monotonic() < deadline:
        time.sleep(0.1)
        sessions = repository.other_sessions(cursor, database)
    return sessions


def _refuse_if_busy(cursor: repository.Cursor, database: str) -> None:
    sessions = _sessions_after_grace(cursor, database)
    if sessions:
        raise OperationFailed(
            f"{sessions} other session(s) are connected to database {database!r}: stop the "
            "service and its workers first (a database in use cannot be replaced)."
        )


def _swap(maintenance: Target, *, target: str, staging: str) -> None:
    """Put `staging` in place of `target` in one transaction: both renames or neither."""
    connection = psycopg2.connect(maintenance.libpq_url())
    try:
        with connection, connection.cursor() as cursor:
            if repository.database_exists(cursor, target):
                _refuse_if_busy(cursor, target)
                repository.rename_database(cursor, target, derived_name(target, REPLACED_SUFFIX))
            repository.rename_database(cursor, staging, target)
    except psycopg2.Error as error:
        raise OperationFailed(
            f"Could not swap the restored database in: {str(error).strip()}."
        ) from None
    finally:
        connection.close()


def _replaced_name(target: Target) -> str:
    return derived_name(target.database, REPLACED_SUFFIX)


def _drop_quietly(maintenance: Target, database: str) -> None:
    try:
        with _cursor(maintenance) as cursor:
            repository.drop_database(cursor, database)
    except OperationFailed as error:
        log.warning("database_not_dropped", database=database, error=str(error))


def _maintenance(target: Target) -> Target:
    """A database on the same server to run CREATE/DROP/ALTER DATABASE from."""
    for name in MAINTENANCE_DATABASES:
        if name == target.database:
            continue
        candidate = target.with_database(name)
        try:
            psycopg2.connect(candidate.libpq_url()).close()
        except psycopg2.OperationalError:
            continue
        return candidate
    raise OperationFailed(
        f"cannot connect to a maintenance database ({', '.join(MAINTENANCE_DATABASES)}) on "
        f"{target.display}: restore needs one to create and rename databases"
    )


@contextmanager
def _cursor(target: Target) -> Iterator[repository.Cursor]:
    """An autocommit cursor on `target`; database errors become OperationFailed."""
    try:
        connection = psycopg2.connect(target.libpq_url())
    except psycopg2.OperationalError as error:
        raise OperationFailed(
            f"cannot connect to {target.display}: {_scrub(error, target)}"
        ) from None
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            yield cursor
    except psycopg2.Error as error:
        raise OperationFailed(
            f"database error on {target.display}: {_scrub(error, target)}"
        ) from None
    finally:
        connection.close()


def _scrub(error: Exception, target: Target) -> str:
    message = str(error).strip()
    return message.replace(target.password, "***") if target.password else message
