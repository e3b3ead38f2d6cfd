"""Zip members inflated from the raw archive, never more than each one declares.

zipfile only lists the members: its reader inflates a member's whole compressed data in one
call whatever size the member declares, so the data is inflated here, in chunks, and a member
that inflates to more than it declares is refused as soon as it does. Only stored and deflate
members are read: they are what zip tools write, and what the upload form promises.
"""

import io
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from functools import partial

from api.code.index.archives.budget import BadArchive, Budget, Member, left_out, shown
from api.code.index.schemas import FileError

CHUNK = 64 * 1024
CENTRAL_SIGNATURE = b"PK\x01\x02"
LOCAL_SIGNATURE = b"PK\x03\x04"
LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra field length
METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def zip_members(data: bytes, budget: Budget, dropped: list[FileError]) -> Iterator[Member]:
    """The regular files of a zip archive; links, devices, encrypted and other methods are
    reported."""
    # zipfile builds an object for every central-directory record, after checking the record's
    # signature: counting the signatures bounds that work before it starts.
    budget.check_entries(data.count(CENTRAL_SIGNATURE))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (
        zipfile.BadZipFile,
        NotImplementedError,
        EOFError,
        OSError,
        ValueError,
        struct.error,
    ) as exc:
        raise BadArchive(str(exc)) from exc
    with archive:
        infos = archive.infolist()
        budget.count_entries(len(infos))
        for info in infos:
            mode = info.external_attr >> 16
            if info.filename.endswith("/"):  # a folder (is_dir() fails on an empty name)
                continue
            if stat.S_ISLNK(mode):
                dropped.append(left_out(info.filename, "symbolic link"))
            elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                dropped.append(left_out(info.filename, "not a regular file"))
            elif info.flag_bits & 0x1:
                dropped.append(left_out(info.filename, "encrypted"))
            elif info.compress_type not in METHODS:
                error = f"compression method {info.compress_type} (only stored and deflate)"
                dropped.append(left_out(info.filename, error))
            else:
                yield info.filename, info.file_size, partial(_content, data, info, budget)


def _content(data: bytes, info: zipfile.ZipInfo, budget: Budget) -> bytes:
    what = f"member {shown(info.filename)!r}"
    budget.expect(info.file_size, what)
    view = memoryview(data)
    head = bytes(view[info.header_offset : info.header_offset + LOCAL_HEADER.size])
    if len(head) < LOCAL_HEADER.size or not head.startswith(LOCAL_SIGNATURE):
        raise BadArchive(f"{what} has no local header where the directory says")
    _, name_length, extra_length = LOCAL_HEADER.unpack(head)
    start = info.header_offset + LOCAL_HEADER.size + name_length + extra_length
    raw = view[start : start + info.compress_size]
    if len(raw) < info.compress_size:
        raise BadArchive(f"{what} is truncated")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise BadArchive(f"{what} is stored with two different sizes")
        budget.take(len(raw))
        content = bytes(raw)
    else:
        content = _inflate(raw, info.file_size, budget, what)
    if zlib.crc32(content) != info.CRC:
        raise BadArchive(f"{what} fails its CRC check")
    return content


def _inflate(raw: memoryview, declared: int, budget: Budget, what: str) -> bytes:
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as zip stores it
    out = bytearray()
    at = 0
    while not inflate.eof:
        feed: bytes | memoryview = inflate.unconsumed_tail
        if not feed:
            feed, at = raw[at : at + CHUNK], at + CHUNK
        try:
            # One byte more than declared is enough to know the declared size is a lie.
            chunk = inflate.decompress(feed, min(CHUNK, declared + 1 - len(out)))
        except zlib.error as exc:
            raise BadArchive(f"{what}: {exc}") from exc
        budget.take(len(chunk))
        out += chunk
        if len(out) > declared:
            raise BadArchive(f"{what} inflates to more than the {declared} bytes it declares")
        if not chunk and not feed and not inflate.eof:
            raise BadArchive(f"{what} is truncated")
    if len(out) != declared:
        raise BadArchive(f"{what} inflates to {len(out)} bytes, not the {declared} it declares")
    return bytes(out)
