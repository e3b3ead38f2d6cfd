"""Well-formed zip and tar archives built in memory, for the upload tests (the malformed ones,
byte by byte, are in hostile_archives.py)."""

import io
import tarfile
import zipfile
from typing import Literal


def make_zip(members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # S_IFLNK
            archive.writestr(info, target)
    return buffer.getvalue()


def make_tar(
    members: dict[str, bytes], *, mode: Literal["w", "w:gz"] = "w:gz", links: bool = False
) -> bytes:
    """A tar (gzipped unless `mode` says otherwise); `links` adds a symlink and a device."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if links:
            link = tarfile.TarInfo("proj/passwd")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(link)
            device = tarfile.TarInfo("proj/null")
            device.type = tarfile.CHRTYPE
            archive.addfile(device)
    return buffer.getvalue()
