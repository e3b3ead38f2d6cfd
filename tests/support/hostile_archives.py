"""Archives built byte by byte, to say what tarfile and zipfile would refuse to write: headers
that declare any size, members whose declared size lies, bombs of gigabytes in kilobytes."""

import functools
import struct
import zlib
from typing import Any

MIB = 1024 * 1024
BLOCK = 512
END = bytes(2 * BLOCK)
POSIX = b"ustar\x0000"
GNU = b"ustar  \x00"
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def _size_field(size: int) -> bytes:
    if size < 0:  # GNU base-256, negative: all ones, then the two's complement
        return b"\xff" + (size % 256**11).to_bytes(11, "big")
    if size < 8**11:
        return _octal(size, 12)
    return b"\x80" + size.to_bytes(11, "big")


def tar_header(
    name: str | bytes,
    size: int = 0,
    kind: bytes = b"0",
    *,
    linkname: str = "",
    magic: bytes = POSIX,
    prefix: str = "",
    size_field: bytes | None = None,
    checksum_delta: int = 0,
) -> bytes:
    """One 512-byte header with a correct checksum (unless told otherwise)."""
    raw_name = name.encode() if isinstance(name, str) else name
    head = bytearray(BLOCK)
    head[0:100] = raw_name[:100].ljust(100, b"\x00")
    head[100:108] = _octal(0o644, 8)
    head[108:116] = _octal(0, 8)
    head[116:124] = _octal(0, 8)
    head[124:136] = size_field if size_field is not None else _size_field(size)
    head[136:148] = _octal(0, 12)
    head[148:156] = b" " * 8
    head[156:157] = kind
    head[157:257] = linkname.encode()[:100].ljust(100, b"\x00")
    head[257:265] = magic
    if magic == POSIX:
        head[345:500] = prefix.encode()[:155].ljust(155, b"\x00")
    checksum = sum(head) + checksum_delta
    head[148:156] = b"%06o\x00 " % checksum
    return bytes(head)


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def tar_entry(name: str, data: bytes = b"", kind: bytes = b"0", **header: Any) -> bytes:
    return tar_header(name, len(data), kind, **header) + padded(data)


def pax_records(records: dict[str, str]) -> bytes:
    out = b""
    for key, value in records.items():
        body = f" {key}={value}\n".encode()
        length = len(body) + 1
        while len(str(length)) + len(body) != length:
            length += 1
        out += str(length).encode() + body
    return out


def tar(*entries: bytes, end: bool = True) -> bytes:
    return b"".join(entries) + (END if end else b"")


def gzip_of(data: bytes) -> bytes:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    return deflate.compress(data) + deflate.flush()


def raw_deflate(data: bytes) -> bytes:
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return deflate.compress(data) + deflate.flush()


@functools.cache  # the CRC of a GiB takes a second
def zero_deflate(prefix: bytes, zero_mib: int, suffix: bytes = b"") -> tuple[bytes, int, int]:
    """Raw deflate of prefix + zero_mib MiB of zeros + suffix, in about 1 KiB per MiB and no
    time: after a full flush nothing refers back, so one compressed MiB can be repeated.
    Returns the stream, its CRC-32 and its decompressed size."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    mib = bytes(MIB)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.compress(suffix) + deflate.flush()
    crc = zlib.crc32(prefix)
    for _ in range(zero_mib):
        crc = zlib.crc32(mib, crc)
    crc = zlib.crc32(suffix, crc)
    return head + block * zero_mib + tail, crc, len(prefix) + zero_mib * MIB + len(suffix)


def zero_gzip(prefix: bytes, zero_mib: int, suffix: bytes = b"") -> bytes:
    """A valid gzip file of prefix + zero_mib MiB of zeros + suffix (a 400 MiB one: 400 KiB)."""
    stream, crc, size = zero_deflate(prefix, zero_mib, suffix)
    return GZIP_HEADER + stream + struct.pack("<II", crc, size % 2**32)


def _zip64_extra(*values: int) -> bytes:
    body = b"".join(struct.pack("<Q", value) for value in values)
    return struct.pack("<HH", 1, len(body)) + body


def zip_archive(entries: list[dict]) -> bytes:
    """A zip archive from entries: name, data (already compressed), and optionally method
    (8), size (the declared uncompressed size), crc, mode (Unix mode bits), flags."""
    local, central = bytearray(), bytearray()
    for entry in entries:
        name = entry["name"].encode()
        data = entry.get("data", b"")
        method = entry.get("method", 8)
        size = entry.get("size", 0)
        crc = entry.get("crc", 0)
        flags = entry.get("flags", 0)
        mode = entry.get("mode", 0o100644)
        offset = len(local)
        extra = b""
        sizes = (len(data), size)
        if size >= 0xFFFFFFFF:
            extra = _zip64_extra(size, len(data))
            sizes = (0xFFFFFFFF, 0xFFFFFFFF)
        local += struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 45, flags, method, 0, 0, crc, *sizes, len(name), 0
        )
        local += name + data
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            (3 << 8) | 45,  # made by Unix: the high half of the external attributes is a mode
            45,
            flags,
            method,
            0,
            0,
            crc,
            *sizes,
            len(name),
            len(extra),
            0,
            0,
            0,
            mode << 16,
            offset,
        )
        central += name + extra
    end = struct.pack(
        "<4sHHHHIIH",
        b"PK\x05\x06",
        0,
        0,
        len(entries),
        len(entries),
        len(central),
        len(local),
        0,
    )
    return bytes(local + central + end)


def deflated_entry(name: str, content: bytes, **overrides: object) -> dict:
    """A correct deflated zip entry for `content`; overrides make it lie."""
    entry = {
        "name": name,
        "data": raw_deflate(content),
        "size": len(content),
        "crc": zlib.crc32(content),
    }
    return entry | overrides
