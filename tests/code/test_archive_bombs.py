"""Hostile archives: every size an archive declares is bounded before it is read.

Each bomb here really holds what it declares (hundreds of MiB to GiB of zeros, compressed to
KiB), so a reader that trusted the declaration would read it: the Budget counts every byte a
reader produced, and the tests check that count stays at the limit, not at the declaration.
"""

import bz2
import functools
import io
import lzma
import tarfile
import time
import tracemalloc
import zipfile
import zlib

import pytest

from api.code.index.archives import (
    HEADER_MAX_BYTES,
    ArchiveTooLarge,
    BadArchive,
    Budget,
    archive_members,
)
from api.code.index.archives.tar import gzipped
from api.code.index.uploads import MAX_ARCHIVE_ENTRIES, NESTED, BadUpload, Upload, unpack
from tests.support.hostile_archives import (
    END,
    GNU,
    MIB,
    deflated_entry,
    gzip_of,
    pax_records,
    tar,
    tar_entry,
    tar_header,
    zero_deflate,
    zero_gzip,
    zip_archive,
)

MAX_BYTES = MIB
MAX_UNPACKED = 16 * MIB
SMALL = tar_entry("p/small.py", b"small = 1\n")
# 16 MiB of zeros after a long-name header: bz2 makes it a few hundred bytes.
LONG_NAME_BOMB = tar(tar_header("././@LongLink", 16 * MIB, b"L", magic=GNU), bytes(16 * MIB))


def refusal(data: bytes, name: str = "x.tar.gz", **limits: int) -> BadUpload:
    with pytest.raises(BadUpload) as raised:
        unpack(
            archives=[Upload(name, data)],
            max_bytes=limits.get("max_bytes", MAX_BYTES),
            max_unpacked=limits.get("max_unpacked", MAX_UNPACKED),
        )
    return raised.value


def read_everything(data: bytes, budget: Budget) -> list[bytes]:
    """Read every member, as if each were admitted: only the budget stands in the way."""
    return [read() for _, _, read in archive_members(data, budget, [])]


def fresh_budget(max_unpacked: int = MAX_UNPACKED) -> Budget:
    return Budget(max_unpacked=max_unpacked, max_entries=MAX_ARCHIVE_ENTRIES)


def kept(data: bytes, name: str = "x.tar.gz", **limits: int) -> tuple[dict[str, str], dict]:
    unpacked = unpack(
        archives=[Upload(name, data)],
        max_bytes=limits.get("max_bytes", MAX_BYTES),
        max_unpacked=limits.get("max_unpacked", MAX_UNPACKED),
    )
    files = {file.path: file.content for file in unpacked.files}
    return files, {item.file: item.error for item in unpacked.dropped}


# The example: a 400 KiB .tar.gz whose first header declares a 400 MiB long name.
@pytest.mark.parametrize(
    ("kind", "called"),
    [
        (b"L", "GNU long-name"),
        (b"K", "GNU long-link-name"),
        (b"x", "pax extended"),
        (b"g", "pax global"),
    ],
)
def test_an_extended_header_bomb_is_refused_unread(kind, called):
    size = 400 * MIB
    bomb = zero_gzip(tar_header("././@LongLink", size, kind, magic=GNU), 400, SMALL + END)
    assert len(bomb) < 500 * 1024
    tracemalloc.start()
    try:
        error = refusal(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.status_code == 413
    assert f"a {called} header declares {size} bytes, more than {HEADER_MAX_BYTES}" in error.detail
    assert peak < 2 * MIB
    budget = fresh_budget()
    with pytest.raises(BadArchive):
        read_everything(bomb, budget)
    assert budget.unpacked <= 64 * 1024  # the header block, not the 400 MiB


def test_extended_headers_up_to_the_cap_are_read():
    long_name = "p/" + "d/" * 400 + "deep.py"
    archive = tar(
        tar_entry("././@LongLink", long_name.encode() + b"\x00", b"L", magic=GNU),
        tar_entry("ignored", b"deep = 1\n", magic=GNU),
        tar_entry("pax", pax_records({"path": "p/pax.py", "mtime": "1.5"}), b"x"),
        tar_entry("ignored-too", b"pax = 1\n"),
        tar_entry("global", pax_records({"comment": "a" * 60_000}), b"g"),
        SMALL,
    )
    files, dropped = kept(gzip_of(archive))
    assert files == {long_name[2:]: "deep = 1\n", "pax.py": "pax = 1\n", "small.py": "small = 1\n"}
    assert dropped == {}


@pytest.mark.parametrize("compress", [gzip_of, lambda data: data], ids=["tar.gz", "tar"])
@pytest.mark.parametrize(
    "header",
    [
        # A pax record overriding the member's size.
        lambda size: (
            tar_entry("pax", pax_records({"size": str(size)}), b"x") + tar_header("p/big.py", 0)
        ),
        # GNU base-256, the encoding of sizes of 8 GiB and more.
        lambda size: tar_header("p/big.py", size),
    ],
    ids=["pax-size", "base-256"],
)
def test_a_member_declaring_more_than_the_budget_is_refused_unread(compress, header):
    declared = 2**40
    archive = compress(tar(SMALL, header(declared), bytes(256 * 1024)))
    error = refusal(archive)
    assert error.status_code == 413
    assert f"member 'p/big.py' declares {declared} bytes" in error.detail
    assert "CODE_UPLOAD_MAX_UNPACKED_BYTES" in error.detail


# Each compresses LONG_NAME_BOMB (16 MiB of zeros after a long-name header).
COMPRESSIONS = {
    "bzip2": lambda: bz2.compress(LONG_NAME_BOMB),
    "xz": lambda: lzma.compress(LONG_NAME_BOMB, preset=0),
    "lzma": lambda: lzma.compress(LONG_NAME_BOMB, format=lzma.FORMAT_ALONE, preset=0),
    "zstd": lambda: b"\x28\xb5\x2f\xfd" + LONG_NAME_BOMB,
    "7-Zip": lambda: b"7z\xbc\xaf\x27\x1c" + LONG_NAME_BOMB,
}


@functools.cache
def compressed(called: str) -> bytes:
    return COMPRESSIONS[called]()


@pytest.mark.parametrize("name", ["x.tar", "x.tar.gz", "x.tgz", "x.zip"])
@pytest.mark.parametrize("called", list(COMPRESSIONS))
def test_compressions_the_form_does_not_promise_are_refused_by_their_bytes(name, called):
    data = compressed(called)
    error = refusal(data, name)
    assert error.status_code == 415
    assert f"is refused: it is {called} data; only .zip, .tar and .tar.gz" in error.detail
    budget = fresh_budget()
    with pytest.raises(BadArchive):
        read_everything(data, budget)
    assert budget.unpacked == 0


@pytest.mark.parametrize(
    ("inner", "called"),
    [
        (bz2.compress(tar(SMALL)), "bzip2"),
        (gzip_of(tar(SMALL)), "gzip"),  # .tar.gz.gz
        (zip_archive([deflated_entry("a.py", b"a\n")]), "zip"),
    ],
)
def test_gzip_must_hold_a_tar(inner, called):
    error = refusal(gzip_of(inner))
    assert error.status_code == 415
    assert f"it holds {called} data where a tar archive should be" in error.detail


def test_garbage_is_not_an_archive():
    for data in (b"just text, named like an archive\n" * 40, bytes(100), b""):
        error = refusal(data, "x.tar")
        assert error.status_code == 422 and "is not a readable archive" in error.detail


def test_a_ratio_bomb_is_stopped_at_the_limit():
    """Members under the unpacked limit but over the kept-bytes limit are skipped, which
    means inflating them: 512 of 4 MiB (2 GiB in 2 MiB of gzip) must stop at the limit."""
    # A multi-member gzip: each gzip member is one tar entry of 4 MiB of zeros.
    data = zero_gzip(tar_header("p/zeros.txt", 4 * MIB), 4) * 512 + gzip_of(END)
    assert len(data) < 3 * MIB
    started = time.monotonic()
    error = refusal(data)
    assert time.monotonic() - started < 2.0
    assert error.status_code == 413
    assert f"CODE_UPLOAD_MAX_UNPACKED_BYTES ({MAX_UNPACKED})" in error.detail
    budget = fresh_budget()
    with pytest.raises(ArchiveTooLarge):
        read_everything(data, budget)
    assert budget.unpacked <= MAX_UNPACKED + 1


@pytest.mark.parametrize(
    "bomb",
    [
        lambda: zero_gzip(b"", 1024),  # one deflate stream of 1 GiB
        lambda: zero_gzip(b"", 4) * 256,  # 256 gzip members of 4 MiB
    ],
    ids=["single-stream", "multi-member"],
)
def test_the_gzip_stream_never_inflates_past_the_budget(bomb):
    """Whatever a reader asks for, the decompressed total stops one byte past the budget."""
    budget = fresh_budget()
    stream = gzipped(bomb(), budget)
    started = time.monotonic()
    with pytest.raises(ArchiveTooLarge, match="it unpacks to more than 16777216 bytes"):
        stream.skip(1024 * MIB)
    assert budget.unpacked == MAX_UNPACKED + 1
    assert time.monotonic() - started < 1.0
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveTooLarge):
            gzipped(bomb(), fresh_budget(max_unpacked=4 * MIB)).read(1024 * MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * 4 * MIB  # the bytes read so far, not the 1 GiB asked for


def test_members_over_the_kept_bytes_are_skipped_and_the_rest_is_read():
    archive = zero_gzip(tar_header("p/big.txt", 2 * MIB), 2, SMALL + END)
    files, dropped = kept(archive)
    assert files == {"small.py": "small = 1\n"}
    assert dropped == {"p/big.txt": f"over the limit of {MAX_BYTES} bytes in total"}


def test_the_budget_is_shared_by_every_archive_of_an_upload():
    half = tar(tar_header("p/zeros.txt", 9 * MIB), bytes(9 * MIB))
    archives = [Upload("a.tar.gz", gzip_of(half)), Upload("b.tar.gz", gzip_of(half))]
    with pytest.raises(BadUpload) as raised:
        unpack(archives=archives, max_bytes=MAX_BYTES, max_unpacked=MAX_UNPACKED)
    assert raised.value.status_code == 413 and raised.value.detail.startswith("b.tar.gz")


# Zip: the central directory declares each size; the data may say otherwise.
def test_a_zip_member_inflating_past_its_declared_size_is_refused_at_once():
    stream, _, _ = zero_deflate(b"", 1024)  # 1 GiB of zeros in 1 MiB
    prefix_crc = zlib.crc32(bytes(10))  # even a CRC forged for the first 10 bytes
    for crc in (0, prefix_crc):
        archive = zip_archive(
            [
                deflated_entry("p/a.py", b"a = 1\n"),
                {"name": "p/lie.py", "data": stream, "size": 10, "crc": crc},
            ]
        )
        error = refusal(archive, "x.zip")
        assert error.status_code == 422
        assert "member 'p/lie.py' inflates to more than the 10 bytes it declares" in error.detail
        budget = fresh_budget()
        with pytest.raises(BadArchive):
            read_everything(archive, budget)
        assert budget.unpacked <= len(b"a = 1\n") + 11


def test_a_zip_member_shorter_than_declared_or_with_a_bad_crc_is_refused():
    short = zip_archive([deflated_entry("p/a.py", b"a = 1\n", size=100)])
    assert "inflates to 6 bytes, not the 100 it declares" in refusal(short, "x.zip").detail
    bad_crc = zip_archive([deflated_entry("p/a.py", b"a = 1\n", crc=1)])
    assert "fails its CRC check" in refusal(bad_crc, "x.zip").detail
    stored = zip_archive([{"name": "p/a.py", "data": b"a = 1\n", "method": 0, "size": 600}])
    assert "stored with two different sizes" in refusal(stored, "x.zip").detail


@pytest.mark.parametrize("declared", [0xFFFFFFFE, 2**62], ids=["4-GiB", "zip64"])
def test_a_zip_member_declaring_a_huge_size_is_left_out_unread(declared):
    stream, crc, _ = zero_deflate(b"", 64)
    archive = zip_archive(
        [
            deflated_entry("p/a.py", b"a = 1\n"),
            {"name": "p/huge.txt", "data": stream, "size": declared, "crc": crc},
        ]
    )
    files, dropped = kept(archive, "x.zip")
    assert files == {"a.py": "a = 1\n"}
    assert dropped == {"p/huge.txt": f"over the limit of {MAX_BYTES} bytes in total"}
    budget = fresh_budget()
    with pytest.raises(BadArchive, match=f"member 'p/huge.txt' declares {declared}"):
        read_everything(archive, budget)
    assert budget.unpacked == len(b"a = 1\n")


def test_zip_members_with_other_methods_are_left_out():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("p/a.py", "a = 1\n", zipfile.ZIP_DEFLATED)
        archive.writestr("p/b.py", "b = 2\n", zipfile.ZIP_BZIP2)
        archive.writestr("p/c.py", "c = 3\n", zipfile.ZIP_LZMA)
        archive.writestr("p/d.py", "d = 4\n", zipfile.ZIP_STORED)
    files, dropped = kept(buffer.getvalue(), "x.zip")
    assert files == {"a.py": "a = 1\n", "d.py": "d = 4\n"}
    assert dropped == {
        "p/b.py": "compression method 12 (only stored and deflate)",
        "p/c.py": "compression method 14 (only stored and deflate)",
    }


def test_too_many_entries_are_refused_before_they_are_listed():
    over = MAX_ARCHIVE_ENTRIES + 1
    many_zip = zip_archive([{"name": f"d{index}/", "method": 0} for index in range(over)])
    many_tar = tar(*(tar_header(f"d{index}/", kind=b"5") for index in range(over)))
    for name, data in (("x.zip", many_zip), ("x.tar", many_tar), ("x.tgz", gzip_of(many_tar))):
        error = refusal(data, name)
        assert error.status_code == 413
        assert f"it holds more than {MAX_ARCHIVE_ENTRIES} entries" in error.detail
    # Headers count too: a long name per entry makes two entries of each.
    long_names = tar(
        *(
            tar_entry("././@LongLink", f"d{index}/".encode(), b"L", magic=GNU)
            + tar_header(f"d{index}/", kind=b"5")
            for index in range(over // 2 + 1)
        )
    )
    assert refusal(gzip_of(long_names)).status_code == 413
    just_enough = zip_archive(
        [{"name": f"d{index}/", "method": 0} for index in range(MAX_ARCHIVE_ENTRIES - 2)]
        + [deflated_entry("a.py", b"a = 1\n")]
    )
    assert kept(just_enough, "x.zip")[0] == {"a.py": "a = 1\n"}


def test_archives_inside_archives_are_not_unpacked():
    inner_tar = tar(tar_entry("evil.py", b"evil = 1\n"))
    archive = zip_archive(
        [
            deflated_entry("p/a.py", b"a = 1\n"),
            deflated_entry("p/inner.tar", inner_tar),
            deflated_entry("p/inner.zip", zip_archive([deflated_entry("e.py", b"e\n")])),
            deflated_entry("p/inner.tgz", gzip_of(inner_tar)),
            deflated_entry("p/inner.bz2", bz2.compress(inner_tar)),
        ]
    )
    files, dropped = kept(archive, "x.zip")
    assert files == {"a.py": "a = 1\n"}
    assert dropped == {
        "p/inner.tar": NESTED,
        "p/inner.zip": NESTED,
        "p/inner.tgz": NESTED,
        "p/inner.bz2": NESTED,
    }
    files, dropped = kept(
        gzip_of(tar(tar_entry("p/a.py", b"a = 1\n"), tar_entry("p/i", inner_tar)))
    )
    assert files == {"a.py": "a = 1\n"} and dropped == {"p/i": NESTED}


def test_unsafe_tar_members_are_left_out():
    archive = tar(
        tar_entry("p/a.py", b"a = 1\n"),
        tar_entry("p/../../evil.py", b"evil\n"),
        tar_entry("/etc/cron.d/evil", b"evil\n"),
        tar_entry("pax", pax_records({"path": "../pax-evil.py"}), b"x"),
        tar_entry("p/innocent.py", b"evil\n"),
        tar_entry("././@LongLink", b"p/../../../long-evil.py\x00", b"L", magic=GNU),
        tar_entry("p/innocent2.py", b"evil\n", magic=GNU),
        tar_entry("p/sym", kind=b"2", linkname="/etc/passwd"),
        tar_entry("p/hard", kind=b"1", linkname="/etc/shadow"),
        tar_entry("p/chr", kind=b"3"),
        tar_entry("p/blk", kind=b"4"),
        tar_entry("p/fifo", kind=b"6"),
        tar_entry("p/volume", b"label data", b"V"),
        tar_entry("p/vendor", b"x" * 700, b"Z"),
        tar_entry("p/b.py", b"b = 2\n"),
    )
    files, dropped = kept(archive, "x.tar")
    assert files == {"a.py": "a = 1\n", "b.py": "b = 2\n"}
    assert dropped == {
        "p/../../evil.py": "unsafe path: parent folder (..)",
        "/etc/cron.d/evil": "unsafe path: absolute",
        "../pax-evil.py": "unsafe path: parent folder (..)",
        "p/../../../long-evil.py": "unsafe path: parent folder (..)",
        "p/sym": "link",
        "p/hard": "link",
        "p/chr": "not a regular file",
        "p/blk": "not a regular file",
        "p/fifo": "not a regular file",
        "p/volume": "not a regular file",
        "p/vendor": "not a regular file",
    }


def test_unsafe_zip_members_are_left_out():
    archive = zip_archive(
        [
            deflated_entry("p/a.py", b"a = 1\n"),
            deflated_entry("p/../../evil.py", b"evil\n"),
            deflated_entry("C:\\Windows\\evil.py", b"evil\n"),
            deflated_entry("p/sym", b"/etc/passwd", mode=0o120777),
            deflated_entry("p/dev", b"", mode=0o020644),
            deflated_entry("p/secret.py", b"s\n", flags=0x1),
        ]
    )
    files, dropped = kept(archive, "x.zip")
    assert files == {"a.py": "a = 1\n"}
    assert dropped == {
        "p/../../evil.py": "unsafe path: parent folder (..)",
        "C:\\Windows\\evil.py": "unsafe path: absolute",
        "p/sym": "symbolic link",
        "p/dev": "not a regular file",
        "p/secret.py": "encrypted",
    }


@pytest.mark.parametrize(
    "sparse",
    [
        tar_header("p/sparse", 0, b"S", magic=GNU),
        tar_entry("pax", pax_records({"GNU.sparse.map": "0,0"}), b"x") + tar_header("p/s", 0),
    ],
    ids=["gnu", "pax"],
)
def test_sparse_files_are_refused(sparse):
    error = refusal(gzip_of(tar(SMALL, sparse)))
    assert error.status_code == 415 and "sparse file" in error.detail


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (tar(SMALL, tar_header("p/b.py", 10, checksum_delta=1)), "bad checksum"),
        (tar(tar_header("p/b.py", 10**6), b"x" * 1024, end=False), "truncated"),
        (tar(tar_header("p/b.py", size_field=b"\xff" + bytes(11))), "negative number"),
        (tar(tar_header("p/b.py", size_field=b"0x12\x00       ")), "invalid number"),
        (tar(tar_header("p/b.py", size_field=b"-1" + bytes(10))), "invalid number"),
        (tar(tar_entry("pax", b"99 path=x\n", b"x"), SMALL), "pax header is malformed"),
        (tar(tar_entry("pax", b"9 path\n", b"x"), SMALL), "pax header is malformed"),
        (tar(tar_entry("pax", pax_records({"size": "1e9"}), b"x"), SMALL), "invalid size"),
        (tar(tar_entry("pax", pax_records({"size": "9" * 30}), b"x"), SMALL), "invalid size"),
    ],
)
def test_malformed_tars_are_refused(archive, message):
    for name, data in (("x.tar", archive), ("x.tar.gz", gzip_of(archive))):
        error = refusal(data, name)
        assert error.status_code == 422 and message in error.detail, error.detail


def test_truncated_gzip_and_zip_are_refused():
    whole = gzip_of(tar(SMALL, tar_entry("p/b.py", b"b" * 5000)))
    assert "truncated" in refusal(whole[: len(whole) // 2]).detail
    archive = zip_archive([deflated_entry("p/a.py", b"a = 1\n" * 100)])
    cut = archive[:40] + archive[80:]  # the data no longer matches the directory's offsets
    assert refusal(cut, "x.zip").status_code == 422


def test_what_follows_the_end_of_the_tar_is_never_read():
    bomb_after_end = zero_gzip(SMALL + END, 1024)  # 1 GiB of zeros after the end marker
    started = time.monotonic()
    files, _ = kept(bomb_after_end)
    assert files == {"small.py": "small = 1\n"} and time.monotonic() - started < 1.0


@pytest.mark.parametrize("form", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_tars_written_by_tarfile_are_read(form):
    buffer = io.BytesIO()
    names = ["proj/a.py", "proj/" + "sub/" * 30 + "deep.py", "proj/unicodé.py"]
    if form == tarfile.USTAR_FORMAT:
        names[2] = "proj/plain.py"  # ustar names are ASCII
    with tarfile.open(fileobj=buffer, mode="w:gz", format=form) as archive:
        if form == tarfile.PAX_FORMAT:
            archive.pax_headers = {"comment": "like git archive's global header"}
        folder = tarfile.TarInfo("proj/sub")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
        for name in names:
            data = f"# {name}\n".encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    files, dropped = kept(buffer.getvalue())
    assert files == {name[5:]: f"# {name}\n" for name in names} and dropped == {}


def test_long_names_are_shortened_in_reports():
    """500 entries with 60 KiB names would make a 30 MB list of left-out files (and page)."""
    name = "p/" + "n" * 60_000 + ".py"
    entry = tar_entry("././@LongLink", name.encode(), b"L", magic=GNU) + tar_entry("x", b"x\n")
    archive = gzip_of(tar(*([entry] * 500), SMALL))
    files, dropped = kept(archive, max_unpacked=64 * MIB)
    assert files == {"small.py": "small = 1\n"}
    shown_name = f"p/{'n' * 148}…{'n' * 147}.py"
    assert dropped == {shown_name: "path longer than 1000 characters"}  # 500 times
    unpacked = unpack(archives=[Upload("x.tgz", archive)], max_bytes=MIB, max_unpacked=64 * MIB)
    assert len(unpacked.dropped) == 500
    assert sum(len(item.file) for item in unpacked.dropped) == 500 * len(shown_name)


def test_gzip_may_be_padded_with_zeros_and_a_tar_may_lack_its_end_marker():
    archive = tar(SMALL, end=False)
    assert kept(archive, "x.tar")[0] == {"small.py": "small = 1\n"}
    assert kept(gzip_of(archive) + bytes(600))[0] == {"small.py": "small = 1\n"}
    error = refusal(gzip_of(archive) + b"garbage after the gzip member")
    assert error.status_code == 422 and "gzip" in error.detail


def test_odd_zip_directories_are_refused_or_reported_not_crashing():
    # zipfile raises NotImplementedError for a version it cannot extract, and IndexError
    # from is_dir() on an empty name: neither may become a 500.
    too_new = bytearray(zip_archive([deflated_entry("p/a.py", b"a = 1\n")]))
    central = too_new.index(b"PK\x01\x02")
    too_new[central + 6 : central + 8] = (99).to_bytes(2, "little")  # version needed: 9.9
    error = refusal(bytes(too_new), "x.zip")
    assert error.status_code == 422 and "zip file version 9.9" in error.detail
    files, dropped = kept(
        zip_archive([deflated_entry("", b"x\n"), deflated_entry("p/a.py", b"a = 1\n")]), "x.zip"
    )
    assert files == {"a.py": "a = 1\n"} and dropped == {"": "unsafe path: empty"}
