"""Run alone in a subprocess by tests/code/test_upload_memory.py: start the app on the
test database, upload hostile archives through POST /ui/code/upload, and print as JSON how
far the process's peak RSS rose above its RSS before the first hostile upload.

The peak is reset just before (Linux's clear_refs), so building the archives and starting the
app do not count; where it cannot be reset, the peak since the start counts (stricter).

Usage: python -m tests.support.upload_memory_probe <database url> <max request bytes> <max unpacked>
"""

import asyncio
import bz2
import json
import lzma
import os
import sys

import httpx
from asgi_lifespan import LifespanManager

from api.core.config import Settings
from api.main import create_app
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

KEY = "memory-probe-key-0123456789"
SMALL = tar_entry("p/small.py", b"small = 1\n")


def current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # the peak RSS becomes the current RSS
    except OSError:
        return False
    return True


def peak_rss() -> int:
    """The peak RSS of this process's memory map (VmHWM). Not getrusage's ru_maxrss: Linux
    folds into it the RSS of the process that forked this one (the test runner) at exec."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    return int(fields["VmHWM"].split()[0]) * 1024


def _streamed(
    compressor: "bz2.BZ2Compressor | lzma.LZMACompressor", head: bytes, mib: int
) -> bytes:
    """Compress head + mib MiB of zeros a MiB at a time, so building it costs no memory."""
    out = [compressor.compress(head)]
    zeros = bytes(MIB)
    out += [compressor.compress(zeros) for _ in range(mib)]
    return b"".join([*out, compressor.flush()])


def hostile() -> list[tuple[str, bytes]]:
    """The issue's examples and their relatives, each declaring or unpacking to 400 MiB+."""
    long_name = tar_header("././@LongLink", 400 * MIB, b"L", magic=GNU)
    inner_bomb = zero_gzip(long_name, 400, SMALL + END)
    huge_stream, _, _ = zero_deflate(b"", 1024)
    many = tar(*(tar_header(f"d{index}/", kind=b"5") for index in range(20_001)))
    return [
        ("longname.tar.gz", inner_bomb),
        ("pax.tar.gz", zero_gzip(tar_header("pax", 400 * MIB, b"x"), 400, SMALL + END)),
        ("global.tgz", zero_gzip(tar_header("pax", 400 * MIB, b"g"), 400, SMALL + END)),
        (
            "pax-size.tar.gz",
            zero_gzip(
                tar_entry("pax", pax_records({"size": str(400 * MIB)}), b"x")
                + tar_header("p/big.py", 0),
                400,
            ),
        ),
        ("bzip2.tar", _streamed(bz2.BZ2Compressor(9), long_name, 400)),
        ("xz.tar.gz", _streamed(lzma.LZMACompressor(preset=0), long_name, 64)),
        ("ratio.tar.gz", zero_gzip(tar_header("p/zeros.txt", 4 * MIB), 4) * 256),
        ("gigabyte.tar.gz", zero_gzip(tar_header("p/zeros.txt", 1024 * MIB), 1024)),
        ("lie.zip", zip_archive([{"name": "p/lie.py", "data": huge_stream, "size": 10}])),
        (
            "zip64.zip",
            zip_archive([{"name": "p/huge.py", "data": huge_stream, "size": 2**62}]),
        ),
        ("entries.zip", zip_archive([{"name": f"d{i}/", "method": 0} for i in range(20_001)])),
        ("entries.tar.gz", gzip_of(many)),
        ("nested.zip", zip_archive([deflated_entry("p/inner.tar.gz", inner_bomb)])),
    ]


async def probe(database_url: str, max_request_bytes: int, max_unpacked: int) -> dict:
    settings = Settings(
        database_url=database_url,
        embedding_mode="mock",
        api_key=KEY,
        max_request_bytes=max_request_bytes,
        code_upload_max_unpacked_bytes=max_unpacked,
        index_worker_in_process=False,
        _env_file=None,
    )
    app = create_app(settings, database_url=database_url)
    headers = {"X-API-Key": KEY, "HX-Request": "true", "HX-Target": "indexing"}
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", headers=headers
        ) as client:

            async def upload(name: str, data: bytes) -> int:
                response = await client.post(
                    "/ui/code/upload",
                    data={"repository": "memory-probe"},
                    files=[("archive", (name, data))],
                )
                return response.status_code

            # Warm-up, refused too (nothing is queued): every code path is loaded before.
            warm_up = await upload("warm.zip", zip_archive([deflated_entry("a", b"\xff")]))
            archives = hostile()
            reset = reset_peak()
            baseline = current_rss()
            statuses, peaks = {}, {}
            for name, data in archives:
                statuses[name] = await upload(name, data)
                peaks[name] = peak_rss() - baseline
            peak = peak_rss()
    sizes = {name: len(data) for name, data in archives}
    return {
        "warm_up": warm_up,
        "statuses": statuses,
        "sizes": sizes,
        "reset": reset,
        "baseline": baseline,
        "growth": peak - baseline,
        "growth_after": peaks,
    }


if __name__ == "__main__":
    url, request_bytes, unpacked = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.stdout.write(json.dumps(asyncio.run(probe(url, request_bytes, unpacked))) + "\n")
