"""What reading an upload's archives may cost, and the errors that refuse an archive."""

from collections.abc import Callable
from dataclasses import dataclass

from api.code.index.schemas import FileError
from api.core.errors import InvalidInput

UNPACKED_SETTING = "CODE_UPLOAD_MAX_UNPACKED_BYTES"
# Names longer than this are shortened in reports: a 64 KiB long name per entry would make
# the list of left-out files (and the page showing it) as large as the decompressed archive.
SHOWN_NAME_CHARS = 300

# A member of an archive: its name, its declared size, and how to read it (called only when
# the member is admitted; a reader skips the data of a member nobody read).
Member = tuple[str, int, Callable[[], bytes]]


def shown(name: str) -> str:
    """A name as reports show it: its start and its end around an ellipsis if it is long."""
    if len(name) <= SHOWN_NAME_CHARS:
        return name
    half = SHOWN_NAME_CHARS // 2
    return f"{name[:half]}…{name[-half:]}"


def left_out(name: str, error: str) -> FileError:
    return FileError(file=shown(name), error=error)


class BadArchive(InvalidInput):
    """An archive that cannot be read as what its first bytes say it is."""

    error = "bad_archive"


class ArchiveTooLarge(BadArchive):
    """An archive that declares, unpacks to or holds more than an upload may take."""

    status_code = 413
    error = "archive_too_large"


class UnsupportedArchive(BadArchive):
    """A format or compression the upload form does not promise (bzip2, xz, sparse files...)."""

    status_code = 415
    error = "unsupported_archive"


@dataclass
class Budget:
    """Decompressed bytes and archive entries, counted over every archive of one upload.

    Every byte a reader produces is counted, headers and skipped members included, so a bomb
    stops at `max_unpacked`; and a declared size is compared with what is left before any of
    it is read."""

    max_unpacked: int
    max_entries: int
    unpacked: int = 0
    entries: int = 0

    @property
    def left(self) -> int:
        return self.max_unpacked - self.unpacked

    def expect(self, declared: int, what: str) -> None:
        """Refuse, before reading anything, data that declares more than is left."""
        if declared > self.left:
            raise ArchiveTooLarge(
                f"{what} declares {declared} bytes, more than the {self.left} left of "
                f"{UNPACKED_SETTING} ({self.max_unpacked})"
            )

    def take(self, produced: int) -> None:
        self.unpacked += produced
        if self.unpacked > self.max_unpacked:
            raise ArchiveTooLarge(
                f"it unpacks to more than {self.max_unpacked} bytes ({UNPACKED_SETTING})"
            )

    def check_entries(self, count: int) -> None:
        """Refuse `count` more entries if they do not fit (nothing is counted)."""
        if self.entries + count > self.max_entries:
            raise ArchiveTooLarge(
                f"it holds more than {self.max_entries} entries (files, folders and headers)"
            )

    def count_entries(self, count: int = 1) -> None:
        self.check_entries(count)
        self.entries += count
