"""What backup and restore report back to the command that ran them."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel


class BackupResult(BaseModel):
    path: Path
    size_bytes: int
    seconds: float
    database: str
    revision: str | None


class ArchiveInfo(BaseModel):
    """What `pg_restore --list` says about an archive, read before anything is changed."""

    path: Path
    created_at: str | None
    source_database: str | None
    server_version: str | None
    entries: int


class RestorePlan(BaseModel):
    """The database a restore would replace, shown before asking for confirmation."""

    archive: ArchiveInfo
    database: str
    exists: bool
    revision: str | None
    other_sessions: int


# current: at the code's head; behind: needs `alembic upgrade head`; upgraded: done by restore.
SchemaStatus = Literal["current", "behind", "upgraded"]


class RestoreResult(BaseModel):
    """`revision` is the archive's; after an upgrade the database is at `head`."""

    database: str
    replaced: bool
    seconds: float
    revision: str
    head: str
    schema_status: SchemaStatus
    dimension: int | None
    expected_dimension: int
