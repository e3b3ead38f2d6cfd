"""Code uploaded from the browser: files, a folder or archives, turned into one index request.

`unpack` is pure and synchronous (run it in a thread): it keeps safe relative paths only,
unpacks .zip and .tar(.gz) archives in memory without extracting anything to disk (through
`api.code.index.archives`, which bounds every size an archive declares and every byte it
decompresses),
strips a folder or an archive's single top-level folder, caps the number of files and the
uncompressed bytes, and decodes UTF-8. Whatever it leaves out is reported per file, not as a
failure; an archive that cannot be read safely is refused whole.
"""

import asyncio
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial

from pydantic import TypeAdapter, ValidationError

from api.code.index.archives import BadArchive, Budget, Member, archive_members, describe, left_out
from api.code.index.schemas import FileError, FileInput, IndexRequest, Repository
from api.core.errors import InvalidInput

MAX_UPLOAD_FILES = 5_000
# Entries of any kind (files, folders, links, extended headers) the archives of one upload may
# hold: a repository of MAX_UPLOAD_FILES files has room for its folders and headers.
MAX_ARCHIVE_ENTRIES = 4 * MAX_UPLOAD_FILES
MAX_PATH_CHARS = 1_000  # FilePath's limit in the index request
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
# Folders that are never source: git's object store, and macOS's resource forks in zip files
# (which would also stop the archive's top-level folder from being stripped).
IGNORED_FOLDERS = {".git": "inside .git/", "__MACOSX": "macOS archive metadata"}
NOT_UTF8 = "not UTF-8 text"
NESTED = "an archive inside the archive (not unpacked)"
DUPLICATE = "duplicate path (the first is kept)"

_repository_name: TypeAdapter[str] = TypeAdapter(Repository)


class UnsafePath(ValueError):
    """An uploaded name that must not become a path: absolute, with `..`, empty."""


class BadUpload(InvalidInput):
    error = "bad_upload"

    def __init__(
        self, detail: str, dropped: Sequence[FileError] = (), *, status_code: int | None = None
    ) -> None:
        super().__init__(detail)
        self.dropped = list(dropped)
        if status_code is not None:  # an archive's refusal: 413 too large, 415 unsupported
            self.status_code = status_code


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


# Admitted files by their safe path, with the name they were uploaded under (for reports).
Admitted = dict[str, tuple[str, bytes]]


def _admit(
    members: Iterator[Member], limits: Limits, dropped: list[FileError], *, nested: bool = False
) -> Admitted:
    """The members that are safe and fit the limits, read; the others reported. With `nested`
    (an archive's members), an archive inside is reported rather than indexed as text."""
    kept: Admitted = {}
    for name, size, read in members:
        try:
            path = safe_path(name)
        except UnsafePath as exc:
            dropped.append(left_out(name, str(exc)))
            continue
        reason = ignored(path) or limits.refuse(size)
        if reason is None and path in kept:  # an archive may hold a name twice
            reason = DUPLICATE
        if reason is not None:
            dropped.append(left_out(name, reason))
            continue
        data = read()
        if nested and describe(data) is not None:
            dropped.append(left_out(name, NESTED))
            continue
        kept[path] = (name, data)
    return kept


def _archive(upload: Upload, limits: Limits, budget: Budget, dropped: list[FileError]) -> Admitted:
    try:
        members = archive_members(upload.data, budget, dropped)
        return _admit(members, limits, dropped, nested=True)
    except BadArchive as exc:
        if exc.status_code == BadArchive.status_code:
            detail = f"{upload.filename} is not a readable archive ({exc.detail})."
        else:
            detail = f"{upload.filename} is refused: {exc.detail}."
        raise BadUpload(detail, dropped, status_code=exc.status_code) from exc


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
    max_unpacked: int,
    max_files: int = MAX_UPLOAD_FILES,
) -> Unpacked:
    """Plain files keep their names; a folder and each archive lose their top-level folder.
    The first of two files with the same path is kept. Left-out files are reported under the
    name they were uploaded with. `max_bytes` bounds the files kept, `max_unpacked` what the
    archives may decompress to in all. Raises BadUpload for a corrupt, unknown, unsupported
    or too large archive."""
    dropped: list[FileError] = []
    limits = Limits(max_files=max_files, max_bytes=max_bytes)
    budget = Budget(max_unpacked=max_unpacked, max_entries=MAX_ARCHIVE_ENTRIES)
    groups = [_admit(_uploaded(files), limits, dropped)]
    groups.append(_rooted(_admit(_uploaded(folder), limits, dropped)))
    for upload in archives:
        if not is_archive(upload.filename):
            suffixes = ", ".join(ARCHIVE_SUFFIXES)
            raise BadUpload(f"{upload.filename} is not an archive ({suffixes}).", dropped)
        groups.append(_rooted(_archive(upload, limits, budget, dropped)))

    result = Unpacked(dropped=dropped)
    seen: set[str] = set()
    for group in groups:
        for path, (name, data) in group.items():
            if path in seen:
                result.dropped.append(left_out(name, DUPLICATE))
                continue
            seen.add(path)
            try:
                result.files.append(FileInput(path=path, content=data.decode("utf-8")))
            except UnicodeDecodeError:
                result.dropped.append(left_out(name, NOT_UTF8))
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
class Prepared:
    """An upload as an index request, and the files it left out."""

    request: IndexRequest
    dropped: list[FileError]


async def prepare_upload(
    repository: str,
    *,
    files: Sequence[Upload],
    folder: Sequence[Upload],
    archives: Sequence[Upload],
    max_bytes: int,
    max_unpacked: int,
) -> Prepared:
    """Unpack an upload (in a thread) into one index request for its files (added to the
    repository, not a full snapshot: an upload may be a part of it)."""
    name = repository_name(repository)
    if not (files or folder or archives):
        raise InvalidInput("Choose files, a folder or an archive to index.")
    unpacked = await asyncio.to_thread(
        unpack,
        files=files,
        folder=folder,
        archives=archives,
        max_bytes=max_bytes,
        max_unpacked=max_unpacked,
    )
    if not unpacked.files:
        raise BadUpload("Nothing to index: every file was left out.", unpacked.dropped)
    request = IndexRequest(repository=name, files=unpacked.files, full_snapshot=False)
    return Prepared(request, unpacked.dropped)
