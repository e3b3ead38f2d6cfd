"""Uploads from the browser: safe paths, archives unpacked in memory with limits, UTF-8 text."""

import pytest

from api.code.index.uploads import (
    DUPLICATE,
    NOT_UTF8,
    BadUpload,
    UnsafePath,
    Upload,
    is_archive,
    repository_name,
    safe_path,
    strip_common_root,
    unpack,
)
from api.core.errors import InvalidInput
from tests.support.archives import make_tar, make_zip

MB = 1024 * 1024
UNPACKED = 16 * MB


def paths(unpacked) -> dict[str, str]:
    return {file.path: file.content for file in unpacked.files}


def reasons(unpacked) -> dict[str, str]:
    return {item.file: item.error for item in unpacked.dropped}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.py", "a.py"),
        ("src/pkg/a.py", "src/pkg/a.py"),
        ("./src//a.py", "src/a.py"),
        ("src\\win\\a.py", "src/win/a.py"),
        ("a:b.py", "a:b.py"),
    ],
)
def test_safe_paths_are_kept_relative_and_normalised(name, expected):
    assert safe_path(name) == expected


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.py", "parent folder"),
        ("src/../../evil.py", "parent folder"),
        ("/etc/passwd", "absolute"),
        ("C:\\Windows\\evil.py", "absolute"),
        ("./", "empty"),
        ("a\x00.py", "NUL"),
        ("x/" * 600 + "a.py", "longer than"),
    ],
)
def test_unsafe_paths_are_refused(name, reason):
    with pytest.raises(UnsafePath, match=reason):
        safe_path(name)


def test_a_single_common_top_folder_is_stripped():
    assert strip_common_root(["p/a.py", "p/src/b.py"]) == ["a.py", "src/b.py"]
    assert strip_common_root(["p/a.py", "q/b.py"]) == ["p/a.py", "q/b.py"]
    assert strip_common_root(["p/a.py", "b.py"]) == ["p/a.py", "b.py"]
    assert strip_common_root(["a.py"]) == ["a.py"]
    assert strip_common_root([]) == []


def test_archive_names():
    assert all(map(is_archive, ["a.zip", "a.TAR", "a.tar.gz", "a.tgz"]))
    assert not any(map(is_archive, ["a.py", "a.gz", "zip"]))


def test_plain_files_keep_their_names_and_non_utf8_is_a_per_file_error():
    unpacked = unpack(
        files=[Upload("a.py", b"x = 1\n"), Upload("latin.py", "é = 1".encode("latin-1"))],
        max_bytes=MB,
        max_unpacked=UNPACKED,
    )
    assert paths(unpacked) == {"a.py": "x = 1\n"}
    assert reasons(unpacked) == {"latin.py": NOT_UTF8}


def test_a_folder_loses_its_own_name_and_git_is_skipped():
    folder = [
        Upload("proj/src/a.py", b"a = 1\n"),
        Upload("proj/README.md", b"# hi\n"),
        Upload("proj/.git/HEAD", b"ref: refs/heads/main\n"),
    ]
    unpacked = unpack(folder=folder, max_bytes=MB, max_unpacked=UNPACKED)
    assert paths(unpacked) == {"src/a.py": "a = 1\n", "README.md": "# hi\n"}
    assert reasons(unpacked) == {"proj/.git/HEAD": "inside .git/"}


def test_zip_is_unpacked_safely():
    data = make_zip(
        {
            "proj/a.py": b"def a():\n    return 1\n",
            "proj/sub/b.py": b"b = 2\n",
            "../evil.py": b"import os\n",
            "/abs.py": b"x = 1\n",
            "proj/latin.txt": "café".encode("latin-1"),
            "__MACOSX/proj/._a.py": b"\x00\x05",
        },
        symlinks={"proj/link.py": "/etc/passwd"},
    )
    unpacked = unpack(archives=[Upload("proj.zip", data)], max_bytes=MB, max_unpacked=UNPACKED)
    assert paths(unpacked) == {"a.py": "def a():\n    return 1\n", "sub/b.py": "b = 2\n"}
    dropped = reasons(unpacked)
    assert dropped["../evil.py"].startswith("unsafe path")
    assert dropped["/abs.py"] == "unsafe path: absolute"
    assert dropped["proj/link.py"] == "symbolic link"
    assert dropped["proj/latin.txt"] == NOT_UTF8  # reported under its name in the archive
    assert dropped["__MACOSX/proj/._a.py"] == "macOS archive metadata"


@pytest.mark.parametrize(
    ("filename", "mode"), [("p.tar.gz", "w:gz"), ("p.tgz", "w:gz"), ("p.tar", "w")]
)
def test_tar_is_unpacked_safely(filename, mode):
    data = make_tar(
        {"proj/a.py": b"a = 1\n", "proj/../../evil.py": b"x\n", "proj/bin.dat": b"\xff\xfe"},
        mode=mode,
        links=True,
    )
    unpacked = unpack(archives=[Upload(filename, data)], max_bytes=MB, max_unpacked=UNPACKED)
    assert paths(unpacked) == {"a.py": "a = 1\n"}
    dropped = reasons(unpacked)
    assert dropped["proj/../../evil.py"].startswith("unsafe path")
    assert dropped["proj/passwd"] == "link"
    assert dropped["proj/null"] == "not a regular file"
    assert dropped["proj/bin.dat"] == NOT_UTF8


def test_file_count_and_byte_limits_drop_the_rest():
    files = [Upload(f"f{i}.py", b"x = 1\n") for i in range(5)]
    by_count = unpack(files=files, max_bytes=MB, max_unpacked=UNPACKED, max_files=3)
    assert len(by_count.files) == 3
    assert reasons(by_count) == {
        "f3.py": "over the limit of 3 files",
        "f4.py": "over the limit of 3 files",
    }
    by_bytes = unpack(files=files, max_bytes=13, max_unpacked=UNPACKED)
    assert [f.path for f in by_bytes.files] == ["f0.py", "f1.py"]
    assert reasons(by_bytes)["f2.py"] == "over the limit of 13 bytes in total"


def test_an_archive_member_over_the_limit_is_never_decompressed():
    bomb = make_zip({"big.txt": b"0" * (4 * MB), "small.py": b"s = 1\n"})
    assert len(bomb) < 64 * 1024  # compresses very well
    unpacked = unpack(archives=[Upload("bomb.zip", bomb)], max_bytes=MB, max_unpacked=UNPACKED)
    assert paths(unpacked) == {"small.py": "s = 1\n"}
    assert reasons(unpacked) == {"big.txt": f"over the limit of {MB} bytes in total"}


def test_duplicate_paths_keep_the_first():
    archive = make_zip({"p/a.py": b"from archive\n", "p/b.py": b"b\n"})
    unpacked = unpack(
        files=[Upload("a.py", b"from files\n")],
        archives=[Upload("p.zip", archive)],
        max_bytes=MB,
        max_unpacked=UNPACKED,
    )
    assert paths(unpacked) == {"a.py": "from files\n", "b.py": "b\n"}
    assert reasons(unpacked) == {"p/a.py": DUPLICATE}
    twice = make_tar({"p/a.py": b"first\n", "p/b.py": b"b\n"} | {"./p/a.py": b"second\n"})
    unpacked = unpack(archives=[Upload("p.tar.gz", twice)], max_bytes=MB, max_unpacked=UNPACKED)
    assert paths(unpacked) == {"a.py": "first\n", "b.py": "b\n"}
    assert reasons(unpacked) == {"./p/a.py": DUPLICATE}


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("broken.zip", b"PK\x03\x04 not really a zip", "not a readable archive"),
        ("broken.tar.gz", b"\x1f\x8b\x08 truncated gzip", "not a readable archive"),
        ("code.py", b"x = 1\n", "is not an archive"),
    ],
)
def test_corrupt_or_unknown_archives_are_refused(filename, data, message):
    with pytest.raises(BadUpload, match=message) as raised:
        unpack(archives=[Upload(filename, data)], max_bytes=MB, max_unpacked=UNPACKED)
    assert raised.value.status_code == 422


def test_repository_names_follow_the_index_constraint():
    assert repository_name("  org/repo ") == "org/repo"
    for bad in ("", "   ", "/root", "x" * 201):
        with pytest.raises(InvalidInput):
            repository_name(bad)
