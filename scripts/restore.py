"""`make restore file=PATH [yes=1]`: replace the service's database with a `make backup` archive.

The archive is loaded into a new database beside the live one, checked, and swapped in with one
transaction, so a failed restore changes nothing. The service and its workers must be stopped
first (a database in use cannot be replaced). Asks before replacing unless --yes; without a
terminal, --yes is required. Then reports the archive's schema revision against the code's:
an older one needs `make migrate-up` (or `make run`, which migrates), or --upgrade here.

Usage: python -m scripts.restore FILE [--yes] [--upgrade] [--jobs N] [--pg-bin-dir DIR]
"""

import argparse
import sys
from pathlib import Path

from api.core.config import get_settings
from api.core.log_setup import configure_logging
from api.ops.backup.pg_tools import find_bin_dir
from api.ops.backup.schemas import RestorePlan, RestoreResult
from api.ops.backup.service import plan_restore, restore
from api.ops.backup.target import OperationFailed, Target, service_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Replace the service's database with an archive made by make backup.",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", type=Path, help="archive written by `make backup`")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--upgrade", action="store_true", help="migrate an older backup to the code's head"
    )
    parser.add_argument("--jobs", "-j", type=int, default=1, help="parallel pg_restore jobs")
    parser.add_argument("--pg-bin-dir", help="directory of pg_restore (default: PG_BIN_DIR, wheel)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log each step")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    settings = get_settings()
    configure_logging("info" if args.verbose else "warning", settings.log_format)
    try:
        bin_dir = find_bin_dir(args.pg_bin_dir)
        with service_database(settings) as target:
            if not prepared(target, args.file, bin_dir=bin_dir, yes=args.yes):
                print("Nothing was changed.")
                return 1
            print("Restoring (loading a copy, then swapping it in) ...", flush=True)
            result = restore(
                target,
                args.file,
                bin_dir=bin_dir,
                expected_dimension=settings.embedding_dimension,
                run_upgrade=args.upgrade,
                jobs=args.jobs,
            )
    except OperationFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report(result)
    return 0


def prepared(target: Target, archive: Path, *, bin_dir: Path, yes: bool) -> bool:
    """Check the archive and the database, show what will be replaced, ask; True to go on."""
    try:
        plan = plan_restore(target, archive, bin_dir=bin_dir)
        describe(plan, target)
        if plan.other_sessions:
            raise OperationFailed(
                f"{plan.other_sessions} other session(s) are connected to database "
                f"{plan.database!r}: stop the service and its workers first"
            )
        return yes or confirmed()
    except OperationFailed as error:
        raise OperationFailed(f"{str(error).rstrip('.')}. Nothing was changed.") from None


def describe(plan: RestorePlan, target: Target) -> None:
    archive = plan.archive
    print(
        f"Archive {archive.path}: database {archive.source_database!r}, made "
        f"{archive.created_at or 'at an unknown time'}, PostgreSQL {archive.server_version}"
    )
    if plan.exists:
        print(
            f"It replaces database {plan.database!r} at {target.display} "
            f"(schema revision {plan.revision or 'none'}) and everything in it."
        )
    else:
        print(f"It creates database {plan.database!r} at {target.display}.")


def confirmed() -> bool:
    if not sys.stdin.isatty():
        raise OperationFailed(
            "not a terminal, so nobody can confirm: pass --yes (make restore ... yes=1)"
        )
    answer = input("Replace it? Type 'yes' to continue: ")
    return answer.strip().lower() == "yes"


def report(result: RestoreResult) -> None:
    print(f"Restored database {result.database!r} in {result.seconds:.1f} s.")
    if result.schema_status == "current":
        print(f"Schema revision {result.revision}: the code's head, nothing to migrate.")
    elif result.schema_status == "upgraded":
        print(f"Schema upgraded from {result.revision} to {result.head} (--upgrade).")
    else:
        print(
            f"Schema revision {result.revision} is older than the code's head {result.head}: "
            "run `make migrate-up` (alembic upgrade head) before the service starts (`make run` "
            "migrates by itself), or restore again with --upgrade."
        )
    if result.dimension is not None and result.dimension != result.expected_dimension:
        print(
            f"Warning: events.embedding holds {result.dimension}-d vectors but "
            f"EMBEDDING_DIMENSION is {result.expected_dimension}: the service refuses to start "
            "until the setting and the models match the backup (docs/migrations.md)."
        )


if __name__ == "__main__":
    sys.exit(main())
