"""`make export [file=PATH]`: write one tenant's events and code index to a JSON Lines file.

The first line names the tenant, the models and the dimension of the vectors; each further line
is one event, code file or code chunk of that tenant (see docs/operations.md). The export is a
consistent snapshot and may run while the service is serving. The file is written under a
`.partial` name and renamed when complete, so a file with the final name is never cut short.

Usage: python -m scripts.export_jsonl [--file PATH] [--tenant NAME] [--only events|code]
                                      [--repository NAME]...
"""

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from api.core.config import get_settings
from api.core.database import resolve_database_url
from api.core.log_setup import configure_logging
from api.core.schema.service import SchemaMismatch, ensure_schema
from api.core.tenancy.schemas import DEFAULT_TENANT
from api.ops.transfer import service
from api.ops.transfer.schemas import ALL_CONTENTS, Contents, ExportCounts
from scripts.operations_db import connect

ROOT = Path(__file__).resolve().parent.parent


def default_path(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return ROOT / "exports" / f"mnemolite-{stamp}.jsonl"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, help="default: exports/mnemolite-<UTC time>.jsonl")
    parser.add_argument(
        "--tenant",
        default=DEFAULT_TENANT,
        help=f"the tenant to export (default: {DEFAULT_TENANT}); one tenant per file",
    )
    parser.add_argument(
        "--only", choices=ALL_CONTENTS, help="export only the events, or only the code index"
    )
    parser.add_argument(
        "--repository",
        action="append",
        help="export the code of this repository only (repeatable; events are still exported "
        "unless --only code)",
    )
    return parser.parse_args(argv)


async def export(url: str, path: Path, args: argparse.Namespace) -> ExportCounts:
    settings = get_settings()
    contents: list[Contents] = [args.only] if args.only else list(ALL_CONTENTS)
    partial = path.with_name(path.name + ".partial")
    conn = await connect(url, application_name="mnemolite-export")
    try:
        await ensure_schema(conn, dimension=settings.embedding_dimension)
        # The command connects as the tables' owner, whom the tenant policies do not bind: the
        # connection's tenant is what the export's queries filter on.
        await service.use_tenant(conn, args.tenant)
        # Buffered writes to a local file: nothing else runs on this command's event loop.
        with (
            partial.open("w", encoding="utf-8", newline="\n") as out,
            tqdm(unit=" lines", file=sys.stderr, disable=not sys.stderr.isatty()) as bar,
        ):

            def write(line: str) -> None:
                out.write(line)
                bar.update()

            counts = await service.export(
                conn,
                write,
                space=service.configured_space(settings),
                contents=contents,
                repositories=args.repository,
                tenant=args.tenant,
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        await conn.close()
    partial.replace(path)
    return counts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    path = (args.file or default_path()).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    url = resolve_database_url(settings)
    try:
        counts = asyncio.run(export(url, path, args))
    except (service.TransferError, SchemaMismatch) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"Exported {counts.events} events, {counts.code_files} code files and "
        f"{counts.code_chunks} code chunks of tenant {args.tenant} to {path}"
    )
    print_skipped(counts)
    return 0


def print_skipped(counts: ExportCounts) -> None:
    """Rows no import would take (written by SQL or an older version) are left out: say which."""
    if not counts.skipped:
        return
    print(f"Left out {counts.skipped} row(s) that no import would accept:", file=sys.stderr)
    for row in counts.skipped_rows:
        print(f"  {row.type} {row.id}: {row.reason}", file=sys.stderr)
    hidden = counts.skipped - len(counts.skipped_rows)
    if hidden > 0:
        print(f"  ... and {hidden} more (see the log)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
