"""A tar stream read block by block, plain or gzip-compressed, every declared size bounded.

tarfile cannot be used on untrusted archives: it reads a GNU long-name or pax header's whole
declared size into memory before anyone can look at it. Here a header's size is checked
before its data is read: extended headers (long names, pax records) are capped at
HEADER_MAX_BYTES, and a member's data must fit what is left of the budget (and, in a plain tar,
what is left of the file). gzip is inflated on demand, never more than the reader asks for and
never past the budget.
"""

import re
import zlib
from collections.abc import Iterator
from typing import NoReturn, Protocol

from api.code.index.archives.budget import (
    ArchiveTooLarge,
    BadArchive,
    Budget,
    Member,
    UnsupportedArchive,
    left_out,
    shown,
)
from api.code.index.archives.formats import BLOCK, ZERO_BLOCK, describe, is_tar_header, tar_number
from api.code.index.schemas import FileError

CHUNK = 64 * 1024
# Long names and pax records longer than this are refused: a path is at most 1000 characters.
HEADER_MAX_BYTES = 64 * 1024
GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip framing only: zlib or raw deflate is not a .tar.gz
POSIX_MAGIC = b"ustar\x00"
DECIMAL = re.compile(r"[0-9]{1,20}")  # int() refuses more than 4300 digits anyway

REGULAR = (b"0", b"\x00", b"7")  # file, old-style file, contiguous file
LINKS = (b"1", b"2")
SPECIAL = (b"3", b"4", b"6")  # character device, block device, FIFO
DIRECTORY = b"5"
# Headers whose data describes the next entry, and what they are called in refusals.
EXTENDED = {
    b"L": "GNU long-name",
    b"K": "GNU long-link-name",
    b"x": "pax extended",
    b"X": "pax extended",  # Solaris's name for it
    b"g": "pax global",
}
SPARSE = b"S"
SPARSE_REFUSAL = "it holds a sparse file, which uploads do not support"
TRUNCATED = "it ends in the middle of an entry (truncated)"


class _Source(Protocol):
    left: int | None  # bytes left, when known (a plain tar): a size beyond it is refused unread

    def produce(self, most: int) -> bytes:
        """Between 1 and `most` bytes, or b"" at the end."""
        ...


class Stream:
    """Exact reads over a source, which never produces more than is asked for; every byte
    produced is counted against the budget."""

    def __init__(self, source: _Source, budget: Budget) -> None:
        self._source = source
        self._budget = budget

    def available(self) -> int | None:
        return self._source.left

    def _produce(self, most: int) -> bytes:
        chunk = self._source.produce(most)
        self._budget.take(len(chunk))
        return chunk

    def block(self) -> bytes:
        """The next block, shorter at the end of the stream (b"" if nothing is left)."""
        data = self._produce(BLOCK)
        while data and len(data) < BLOCK and (more := self._produce(BLOCK - len(data))):
            data += more
        return data

    def read(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self._produce(min(size - len(data), CHUNK))
            if not chunk:
                raise BadArchive(TRUNCATED)
            data += chunk
        return bytes(data)

    def skip(self, size: int) -> None:
        while size > 0:
            chunk = self._produce(min(size, CHUNK))
            if not chunk:
                raise BadArchive(TRUNCATED)
            size -= len(chunk)


class _Plain:
    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._at = 0
        self.left: int | None = len(data)

    def produce(self, most: int) -> bytes:
        chunk = bytes(self._view[self._at : self._at + most])
        self._at += len(chunk)
        self.left = len(self._view) - self._at
        return chunk


class _Gunzip:
    """A gzip file's content, every member of it, inflated on demand; never more than one
    byte past the budget (enough for the budget to refuse it), whatever is asked for."""

    left: int | None = None

    def __init__(self, data: bytes, budget: Budget) -> None:
        self._input = memoryview(data)
        self._at = 0
        self._budget = budget
        self._inflate = zlib.decompressobj(GZIP_WBITS)

    def _next_input(self) -> memoryview:
        feed = self._input[self._at : self._at + CHUNK]
        self._at += len(feed)
        return feed

    def produce(self, most: int) -> bytes:
        while True:
            feed: bytes | memoryview
            if self._inflate.eof:  # a gzip file may hold several members, one after another
                feed = self._inflate.unused_data or self._next_input()
                if not bytes(feed).strip(b"\x00"):  # the end, or zeros padding it (as gzip allows)
                    return b""
                self._inflate = zlib.decompressobj(GZIP_WBITS)
            else:
                feed = self._inflate.unconsumed_tail or self._next_input()
            try:
                # max_length is never 0 (which means "unlimited"): left is never negative.
                out = self._inflate.decompress(feed, min(most, CHUNK, self._budget.left + 1))
            except zlib.error as exc:
                raise BadArchive(f"gzip: {exc}") from exc
            if out:
                return out
            if not feed and not self._inflate.eof:
                raise BadArchive("the gzip stream ends too early (truncated)")


def plain(data: bytes, budget: Budget) -> Stream:
    return Stream(_Plain(data), budget)


def gzipped(data: bytes, budget: Budget) -> Stream:
    return Stream(_Gunzip(data, budget), budget)


def _padding(size: int) -> int:
    return -size % BLOCK


def _text(field: bytes) -> str:
    return field.split(b"\x00", 1)[0].decode("utf-8", "replace")


def _pax(data: bytes) -> dict[str, str]:
    """The records of a pax header ("<length> <key>=<value>\\n"), strictly parsed."""
    records: dict[str, str] = {}
    at = 0
    while at < len(data) and data[at] != 0:
        space = data.find(b" ", at, at + 20)
        length = data[at:space]
        if space < 0 or not length.isdigit():
            raise BadArchive("a pax header is malformed")
        end = at + int(length)
        if end <= space + 1 or end > len(data) or data[end - 1] != ord("\n"):
            raise BadArchive("a pax header is malformed")
        key, equals, value = data[space + 1 : end - 1].partition(b"=")
        if not equals:
            raise BadArchive("a pax header is malformed")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        at = end
    if any(key.startswith("GNU.sparse.") for key in records):
        raise UnsupportedArchive(SPARSE_REFUSAL)
    if "size" in records and not DECIMAL.fullmatch(records["size"]):
        raise BadArchive("a pax header holds an invalid size")
    return records


class _Data:
    """A member's data: read if the member is admitted, skipped when the reader moves on."""

    def __init__(self, stream: Stream, size: int) -> None:
        self._stream = stream
        self._size = size
        self._read = False

    def read(self) -> bytes:
        self._read = True
        return self._stream.read(self._size)

    def finish(self) -> None:
        self._stream.skip(_padding(self._size) if self._read else self._size + _padding(self._size))


def _expect(stream: Stream, budget: Budget, size: int, what: str) -> None:
    budget.expect(size, what)
    available = stream.available()
    if available is not None and size > available:
        raise BadArchive(f"{what} declares {size} bytes, but only {available} follow (truncated)")


def _extended(stream: Stream, budget: Budget, kind: bytes, size: int) -> bytes:
    what = f"a {EXTENDED[kind]} header"
    if size > HEADER_MAX_BYTES:
        raise ArchiveTooLarge(f"{what} declares {size} bytes, more than {HEADER_MAX_BYTES}")
    _expect(stream, budget, size, what)
    data = stream.read(size)
    stream.skip(_padding(size))
    return data


def _not_tar(head: bytes) -> NoReturn:
    """A stream that does not start with a tar header: say what it is if it is recognisable."""
    found = describe(head)
    if found is not None and found != "tar":
        raise UnsupportedArchive(f"it holds {found} data where a tar archive should be")
    raise BadArchive("it does not start with a tar header")


def tar_members(stream: Stream, budget: Budget, dropped: list[FileError]) -> Iterator[Member]:
    """The regular files of a tar stream; links, devices and unknown types are reported."""
    extended: dict[str, str] = {}
    first = True
    while block := stream.block():
        if block == ZERO_BLOCK:  # the end-of-archive marker; what follows is never read
            return
        if first and not is_tar_header(block):
            _not_tar(block)
        if len(block) < BLOCK:
            raise BadArchive(TRUNCATED)
        if not is_tar_header(block):
            raise BadArchive("a tar header has a bad checksum")
        first = False
        budget.count_entries()
        kind, size = block[156:157], tar_number(block[124:136])
        if kind in EXTENDED:
            data = _extended(stream, budget, kind, size)
            if kind == b"L":
                extended["path"] = _text(data)
            elif kind in (b"x", b"X"):  # link names (K) and global records (g) matter not
                extended.update(_pax(data))
            continue
        if kind == SPARSE:
            raise UnsupportedArchive(SPARSE_REFUSAL)
        name = _text(block[0:100])
        prefix = _text(block[345:500]) if block[257:263] == POSIX_MAGIC else ""
        name = extended.get("path") or (f"{prefix}/{name}" if prefix else name)
        size = int(extended.get("size", size))
        extended.clear()
        # Only regular files and unknown types have data; the others' size field is ignored.
        if kind == DIRECTORY or (kind == b"\x00" and name.endswith("/")):  # v7 folders
            continue
        if kind in LINKS:
            dropped.append(left_out(name, "link"))
        elif kind in SPECIAL:
            dropped.append(left_out(name, "not a regular file"))
        elif kind in REGULAR:
            _expect(stream, budget, size, f"member {shown(name)!r}")
            member = _Data(stream, size)
            yield name, size, member.read
            member.finish()
        else:
            dropped.append(left_out(name, "not a regular file"))
            _expect(stream, budget, size, f"member {shown(name)!r}")
            stream.skip(size + _padding(size))
