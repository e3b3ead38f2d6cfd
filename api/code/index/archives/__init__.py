"""Uploaded archives, read with every size they declare bounded before it is read.

Only what the upload form promises is opened — .zip, .tar and .tar.gz (.tgz) — told apart by
their first bytes, not by their names: bzip2, xz and the rest are refused before any of them
is decompressed. tarfile and zipfile trust the sizes an archive declares, so the tar stream is
parsed here and zip members are inflated here (see `tar` and `zip`). One `Budget` per upload
counts every decompressed byte and every entry, so neither a bomb nor a million tiny entries
can cost more than CODE_UPLOAD_MAX_UNPACKED_BYTES of decompression or a bounded number of
entries.
"""

from collections.abc import Iterator

from api.code.index.archives.budget import (
    ArchiveTooLarge,
    BadArchive,
    Budget,
    Member,
    UnsupportedArchive,
    left_out,
)
from api.code.index.archives.formats import describe
from api.code.index.archives.tar import HEADER_MAX_BYTES, gzipped, plain, tar_members
from api.code.index.archives.zip import zip_members
from api.code.index.schemas import FileError

ACCEPTED = ".zip, .tar and .tar.gz (.tgz)"

__all__ = [
    "ACCEPTED",
    "HEADER_MAX_BYTES",
    "ArchiveTooLarge",
    "BadArchive",
    "Budget",
    "Member",
    "UnsupportedArchive",
    "archive_members",
    "describe",
    "left_out",
]


def archive_members(data: bytes, budget: Budget, dropped: list[FileError]) -> Iterator[Member]:
    """The regular files of an archive, read lazily; what is left out goes to `dropped`.
    Raises BadArchive (or a subclass) for an unreadable, unsupported or too large archive."""
    budget.count_entries()  # an archive is an entry too: a thousand tiny ones cost as much
    found = describe(data)
    if found == "zip":
        return zip_members(data, budget, dropped)
    if found == "gzip":
        return tar_members(gzipped(data, budget), budget, dropped)
    if found == "tar":
        return tar_members(plain(data, budget), budget, dropped)
    if found is None:
        raise BadArchive("it is not a zip, tar or gzip file")
    raise UnsupportedArchive(f"it is {found} data; only {ACCEPTED} archives are accepted")
