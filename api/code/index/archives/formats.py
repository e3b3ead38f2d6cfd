"""What an upload is, from its first bytes: never from its name."""

import re
import struct

from api.code.index.archives.budget import BadArchive

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
OCTAL = re.compile(rb"[0-7]*")
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive's end
GZIP_MAGIC = b"\x1f\x8b"
# Recognised only to name them in a refusal (precise enough never to match a text file).
FOREIGN = (
    (re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)"), "bzip2"),
    (re.compile(rb"\xfd7zXZ\x00"), "xz"),
    (re.compile(rb"\x5d\x00\x00[\x00-\xff]{10}"), "lzma"),
    (re.compile(rb"\x28\xb5\x2f\xfd"), "zstd"),
    (re.compile(rb"\x04\x22\x4d\x18"), "lz4"),
    (re.compile(rb"LZIP\x01"), "lzip"),
    (re.compile(rb"\x1f\x9d"), "compress (.Z)"),
    (re.compile(rb"7z\xbc\xaf\x27\x1c"), "7-Zip"),
    (re.compile(rb"Rar!\x1a\x07"), "RAR"),
)


def tar_number(field: bytes) -> int:
    """A numeric tar header field: octal digits, or GNU base-256 (sizes of 8 GiB and more)."""
    if field[:1] == b"\x80":
        return int.from_bytes(field[1:], "big")
    if field[:1] == b"\xff":
        raise BadArchive("a tar header holds a negative number")
    digits = field.split(b"\x00", 1)[0].strip(b" ")
    if not OCTAL.fullmatch(digits):
        raise BadArchive("a tar header holds an invalid number")
    return int(digits or b"0", 8)


def is_tar_header(block: bytes) -> bool:
    """Whether `block` is a tar header: its checksum (unsigned, or signed as old tars did)."""
    if len(block) != BLOCK or block == ZERO_BLOCK:
        return False
    try:
        stored = tar_number(block[148:156])
    except BadArchive:
        return False
    spaces = 8 * ord(" ")  # the checksum is computed with its own field as spaces
    if stored == sum(block) - sum(block[148:156]) + spaces:
        return True
    signed = sum(struct.unpack_from("148b", block)) + sum(struct.unpack_from("356b", block, 156))
    return stored == signed + spaces


def describe(data: bytes) -> str | None:
    """The archive or compression format `data` starts with, or None."""
    if data.startswith(ZIP_MAGICS):
        return "zip"
    if data.startswith(GZIP_MAGIC):
        return "gzip"
    for magic, name in FOREIGN:
        if magic.match(data):
            return name
    head = data[:BLOCK]
    # An empty tar is only end-of-archive blocks.
    if is_tar_header(head) or (head == ZERO_BLOCK and data[BLOCK : 2 * BLOCK] == ZERO_BLOCK):
        return "tar"
    return None
