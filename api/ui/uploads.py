"""Code uploaded from the browser: files, a folder or archives, turned into one index job.

`unpack` is pure and synchronous (run it in a thread): it keeps safe relative paths only,
unpacks .zip and .tar(.gz) archives in memory without extracting anything to disk, strips a
folder or an archive's single top-level folder, caps the number of files and the uncompressed
bytes, and decodes UTF-8. Whatever it leaves out is reported per file, not as a failure.
"""

import asyncio
import io
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial

import asyncpg
from pydantic import TypeAdapter, ValidationError

from api.code_index.schemas import FileError, FileInput, IndexRequest, Repository
from api.errors import InvalidInput
from api.index_jobs import service as index_jobs
from api.index_jobs.schemas import JobRead

MAX_UPLOAD_FILES = 5_000
MAX_PATH_CHARS = 1_000  # FilePath's limit in the index request
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
# Folders that are never source: git's object store, and macOS's resource forks in zip files
# (which would also stop the archive's top-level folder from being stripped).
IGNORED_FOLDERS = {".git": "inside .git/", "__MACOSX": "macOS archive metadata"}
NOT_UTF8 = "not UTF-8 text"
DUPLICATE = "duplicate path (the first is kept)"

_repository_name: TypeAdapter[str] = TypeAdapter(Repository)


class UnsafePath(ValueError):
    """An uploaded name that must not become a path: absolute, with `..`, empty."""


class BadUpload(InvalidInput):
    error = "bad_upload"

    def __init__(self, detail: str, dropped: Sequence[FileError] = ()) -> None:
        super().__init__(detail)
        self.dropped = list(dropped)


@dataclass(frozen=True)
class Upload:
    """One uploaded file as the browser sent it (a folder's files carry relative paths)."""

    filename: str
    data: bytes


@dataclass
class Unpacked:
    files: list[FileInput] = field(default_factory=list)
    dropped: list[FileError] = field(default_factory=list)


@dataclass
class Limits:
    """What an upload may still take, consumed in order: files, then uncompressed bytes."""

    max_files: int
    max_bytes: int
    files: int = 0
    bytes: int = 0

    def refuse(self, size: int) -> str | None:
        """Why a file of `size` bytes does not fit, or None (and it is counted)."""
        if self.files >= self.max_files:
            return f"over the limit of {self.max_files} files"
        if self.bytes + size > self.max_bytes:
            return f"over the limit of {self.max_bytes} bytes in total"
        self.files += 1
        self.bytes += size
        return None


def safe_path(name: str) -> str:
    """A relative POSIX path for an uploaded name; raises UnsafePath when there is none."""
    path = name.replace("\\", "/")
    if "\x00" in path:
        raise UnsafePath("unsafe path: NUL character")
    if path.startswith("/") or re.match(r"[A-Za-z]:/", path):
        raise UnsafePath("unsafe path: absolute")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafePath("unsafe path: parent folder (..)")
    if not parts:
        raise UnsafePath("unsafe path: empty")
    joined = "/".join(parts)
    if len(joined) > MAX_PATH_CHARS:
        raise UnsafePath(f"path longer than {MAX_PATH_CHARS} characters")
    return joined


def ignored(path: str) -> str | None:
    """Why a safe path is left out on purpose (a folder that is never source), or None."""
    for part in path.split("/")[:-1]:
        if part in IGNORED_FOLDERS:
            return IGNORED_FOLDERS[part]
    return None


def strip_common_root(paths: Sequence[str]) -> list[str]:
    """Drop a top-level folder shared by every path (an archive's `project-1.0/`)."""
    tops = {path.split("/", 1)[0] for path in paths}
    if len(tops) != 1 or any("/" not in path for path in paths):
        return list(paths)
    return [path.split("/", 1)[1] for path in paths]


def is_archive(filename: str) -> bool:
    return filename.lower().endswith(ARCHIVE_SUFFIXES)


# A member of an archive: its name, its size, and how to read it (called only when admitted).
Member = tuple[str, int, Callable[[], bytes]]


def zip_members(data: bytes, dropped: list[FileError]) -> Iterator[Member]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                dropped.append(FileError(file=info.filename, error="symbolic link"))
            elif info.flag_bits & 0x1:
                dropped.append(FileError(file=info.filename, error="encrypted"))
            else:
                # zipfile reads no more than the declared size, so the limits hold.
                yield info.filename, info.file_size, partial(archive.read, info)


def tar_members(data: bytes, dropped: list[FileError]) -> Iterator[Member]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive:
            if member.isdir():
                continue
            if member.issym() or member.islnk():
                dropped.append(FileError(file=member.name, error="link"))
            elif not member.isfile():
                dropped.append(FileError(file=member.name, error="not a regular file"))
            else:
                yield member.name, member.size, partial(_read_tar, archive, member)


def _read_tar(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    extracted = archive.extractfile(member)
    assert extracted is not None  # a regular file always has data
    return extracted.read(member.size)


# Admitted files by their safe path, with the name they were uploaded under (for reports).
Admitted = dict[str, tuple[str, bytes]]


def _admit(members: Iterator[Member], limits: Limits, dropped: list[FileError]) -> Admitted:
    """The members that are safe and fit the limits, read; the others reported."""
    kept: Admitted = {}
    for name, size, read in members:
        try:
            path = safe_path(name)
        except UnsafePath as exc:
            dropped.append(FileError(file=name, error=str(exc)))
            continue
        reason = ignored(path) or limits.refuse(size)
        if reason is None and path in kept:  # an archive may hold a name twice
            reason = DUPLICATE
        if reason is not None:
            dropped.append(FileError(file=name, error=reason))
            continue
        kept[path] = (name, read())
    return kept


def _archive(upload: Upload, limits: Limits, dropped: list[FileError]) -> Admitted:
    members = zip_members if upload.filename.lower().endswith(".zip") else tar_members
    try:
        return _admit(members(upload.data, dropped), limits, dropped)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BadUpload(f"{upload.filename} is not a readable archive ({exc}).", dropped) from exc
    except (NotImplementedError, RuntimeError) as exc:  # unknown compression, encryption
        raise BadUpload(f"{upload.filename} cannot be unpacked ({exc}).", dropped) from exc


def _uploaded(uploads: Sequence[Upload]) -> Iterator[Member]:
    for upload in uploads:
        yield upload.filename, len(upload.data), partial(bytes, upload.data)


def _rooted(files: Admitted) -> Admitted:
    return dict(zip(strip_common_root(list(files)), files.values(), strict=True))


def unpack(
    *,
    files: Sequence[Upload] = (),
    folder: Sequence[Upload] = (),
    archives: Sequence[Upload] = (),
    max_bytes: int,
    max_files: int = MAX_UPLOAD_FILES,
) -> Unpacked:
    """Plain files keep their names; a folder and each archive lose their top-level folder.
    The first of two files with the same path is kept. Left-out files are reported under the
    name they were uploaded with. Raises BadUpload for a corrupt or unknown archive."""
    dropped: list[FileError] = []
    limits = Limits(max_files=max_files, max_bytes=max_bytes)
    groups = [_admit(_uploaded(files), limits, dropped)]
    groups.append(_rooted(_admit(_uploaded(folder), limits, dropped)))
    for upload in archives:
        if not is_archive(upload.filename):
            suffixes = ", ".join(ARCHIVE_SUFFIXES)
            raise BadUpload(f"{upload.filename} is not an archive ({suffixes}).", dropped)
        groups.append(_rooted(_archive(upload, limits, dropped)))

    result = Unpacked(dropped=dropped)
    seen: set[str] = set()
    for group in groups:
        for path, (name, data) in group.items():
            if path in seen:
                result.dropped.append(FileError(file=name, error=DUPLICATE))
                continue
            seen.add(path)
            try:
                result.files.append(FileInput(path=path, content=data.decode("utf-8")))
            except UnicodeDecodeError:
                result.dropped.append(FileError(file=name, error=NOT_UTF8))
    return result


def repository_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise InvalidInput("Give the repository a name.")
    try:
        return _repository_name.validate_python(name)
    except ValidationError as exc:
        raise InvalidInput(
            "Invalid repository name: use 1 to 200 characters, not starting with '/'."
        ) from exc


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
) -> Queued:
    """Unpack an upload and queue one index job for its files (added to the repository,
    not a full snapshot: an upload may be a part of it)."""
    name = repository_name(repository)
    if not (files or folder or archives):
        raise InvalidInput("Choose files, a folder or an archive to index.")
    unpacked = await asyncio.to_thread(
        unpack, files=files, folder=folder, archives=archives, max_bytes=max_bytes
    )
    if not unpacked.files:
        raise BadUpload("Nothing to index: every file was left out.", unpacked.dropped)
    request = IndexRequest(repository=name, files=unpacked.files, full_snapshot=False)
    return Queued(await index_jobs.enqueue(conn, request), unpacked.dropped)
