"""`make partition-check`: has the events table reached the size where partitioning pays?

Prints the events count (estimated above 100k rows), the table, index and HNSW sizes, the
server's shared_buffers, and a verdict (postpone / consider partitioning) with its reasons.
The decision and the thresholds are explained in docs/operations.md. Exit status 0 either way.

Usage: python -m scripts.partition_check [--json]
"""

import argparse
import asyncio
import sys

import asyncpg

from api.core.config import get_settings
from api.core.database import asyncpg_dsn
from api.core.log_setup import configure_logging
from api.ops.backup.target import OperationFailed, Target, service_database
from api.ops.partition.exceptions import NoEventsTable
from api.ops.partition.schemas import PartitionReadiness
from api.ops.partition.service import human_bytes, partition_readiness


async def measure(target: Target) -> PartitionReadiness:
    connection = await asyncpg.connect(asyncpg_dsn(target.libpq_url()))
    try:
        return await partition_readiness(connection)
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Has the events table reached the size where partitioning pays?",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the measurement as JSON")
    args = parser.parse_args(argv)

    settings = get_settings()
    configure_logging("warning", settings.log_format)
    try:
        with service_database(settings) as target:
            readiness = asyncio.run(measure(target))
    except (OperationFailed, NoEventsTable, OSError, asyncpg.PostgresError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(readiness.model_dump_json(indent=2))
    else:
        print(render(readiness, target))
    return 0


def render(readiness: PartitionReadiness, target: Target) -> str:
    storage = readiness.storage
    estimate = " (estimate from pg_class)" if storage.events_estimated else ""
    span = (
        f"{storage.oldest:%Y-%m-%d} .. {storage.newest:%Y-%m-%d}"
        if storage.oldest and storage.newest
        else "no events"
    )
    lines = [
        f"Database {target.database!r} at {target.display}",
        f"  events                {storage.events:,}{estimate}",
        f"  time span             {span}",
        f"  table (heap + TOAST)  {human_bytes(storage.table_bytes)}",
        f"  indexes               {human_bytes(storage.index_bytes)}"
        f" (HNSW {human_bytes(storage.hnsw_bytes)})",
        f"  total                 {human_bytes(storage.total_bytes)}",
        f"  shared_buffers        {human_bytes(storage.shared_buffers_bytes)}",
        f"  effective_cache_size  {human_bytes(storage.effective_cache_size_bytes)}",
        "",
        f"Verdict: {readiness.verdict}",
        *(f"  - {reason}" for reason in readiness.reasons),
        *(f"  * {note}" for note in readiness.advice),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
