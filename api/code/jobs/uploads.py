"""An upload from the browser queued as one index job (the unpacking is the index's:
`api.code.index.uploads`)."""

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from api.code.index.schemas import FileError
from api.code.index.uploads import Upload, prepare_upload
from api.code.jobs import service
from api.code.jobs.schemas import JobRead


@dataclass(frozen=True)
class Queued:
    job: JobRead
    dropped: list[FileError]


async def index_upload(
    conn: asyncpg.Connection,
    repository: str,
    *,
    files: Sequence[Upload],
    folder: Sequence[Upload],
    archives: Sequence[Upload],
    max_bytes: int,
    max_unpacked: int,
) -> Queued:
    """Unpack an upload and queue one index job for its files."""
    prepared = await prepare_upload(
        repository,
        files=files,
        folder=folder,
        archives=archives,
        max_bytes=max_bytes,
        max_unpacked=max_unpacked,
    )
    return Queued(await service.enqueue(conn, prepared.request), prepared.dropped)
