"""`make import file=PATH`: load a JSON Lines export into one tenant of this database.

Every line is validated first; with a bad line nothing is written (each bad line is listed
with its number) unless --skip-invalid is given. Then records are written in batches, each in
its own transaction. Records already present (same id; a file also by repository and path) are
skipped, so importing twice adds nothing and an interrupted import is completed by running it
again. When the file's models or dimension differ from this service's settings, the texts are
embedded again with this service's models. The graph of each repository is rebuilt at the end.
The database is migrated first if needed (as `make run` does). The records go into the tenant
--tenant names (`default` unless given), which must exist, whichever tenant the file came from.

Usage: python -m scripts.import_jsonl FILE [--tenant NAME] [--skip-invalid] [--batch-size N]

Exit status: 0 imported, 1 failed, 2 refused (invalid file, nothing written).
"""

import argparse
import asyncio
import sys
from pathlib import Path

from api.core.config import Settings, get_settings
from api.core.database import resolve_database_url
from api.core.log_setup import configure_logging
from api.core.migrations import upgrade
from api.core.schema.service import SchemaMismatch, ensure_schema
from api.core.tenancy.schemas import DEFAULT_TENANT
from api.embeddings.exceptions import EmbeddingConfigError
from api.embeddings.factory import Embedders, build_embedders
from api.ops.transfer import service
from api.ops.transfer.schemas import ImportReport, Scan
from scripts.operations_db import connect

PROBLEMS_SHOWN = 20


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument(
        "--tenant",
        default=DEFAULT_TENANT,
        help=f"the tenant to import into (default: {DEFAULT_TENANT}); it must exist",
    )
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid lines of a file that has invalid ones (they are still listed)",
    )
    parser.add_argument("--batch-size", type=int, default=service.BATCH_SIZE)
    return parser.parse_args(argv)


def print_problems(scan: Scan) -> None:
    for problem in scan.problems[:PROBLEMS_SHOWN]:
        print(f"  line {problem.line}: {problem.message}", file=sys.stderr)
    hidden = scan.invalid_lines - min(len(scan.problems), PROBLEMS_SHOWN)
    if hidden > 0:
        print(f"  ... and {hidden} more invalid line(s)", file=sys.stderr)


def print_report(report: ImportReport, scan: Scan) -> None:
    for name, outcome in (
        ("events", report.events),
        ("code files", report.code_files),
        ("code chunks", report.code_chunks),
    ):
        print(f"{name}: {outcome.inserted} imported, {outcome.skipped} already present")
    if report.chunks_without_file:
        print(
            f"code chunks skipped because this database indexes their file itself (or the file "
            f"line is missing): {report.chunks_without_file}"
        )
    for graph in report.graphs:
        print(f"graph of {graph.repository}: {graph.nodes} nodes, {graph.edges} edges")
    if report.invalid_lines:
        print(f"invalid lines skipped: {report.invalid_lines}")
    # Lines only the database could refuse (found while writing, after the scan's list).
    for problem in report.problems[len(scan.problems) :]:
        print(f"  line {problem.line}: {problem.message}", file=sys.stderr)


async def run(url: str, path: Path, args: argparse.Namespace, settings: Settings) -> int:
    scan = await service.scan(path)
    if scan.header is None:
        print(f"{path} is not a MnemoLite export:", file=sys.stderr)
        print_problems(scan)
        return 2
    if scan.invalid_lines:
        print(f"{path}: {scan.invalid_lines} invalid line(s):", file=sys.stderr)
        print_problems(scan)
        if not args.skip_invalid:
            print("Nothing was imported. Fix the lines, or pass --skip-invalid.", file=sys.stderr)
            return 2
    target = service.configured_space(settings)
    source = scan.header.space
    if source != target:
        print(
            f"The file's vectors come from {source.text_model} / {source.code_model} "
            f"({source.dimension}-d); this service uses {target.text_model} / "
            f"{target.code_model} ({target.dimension}-d): the texts are embedded again."
        )
    exported_from = scan.header.tenant
    if exported_from is not None and exported_from != args.tenant:
        print(f"The file was exported from tenant {exported_from}; importing into {args.tenant}.")
    conn = await connect(url, application_name="mnemolite-import")
    embedders: Embedders | None = None
    try:
        # As the tables' owner the policies do not apply: the connection's tenant is where
        # every row goes and what the "already present" checks compare with.
        await service.use_tenant(conn, args.tenant)
        await ensure_schema(conn, dimension=target.dimension)
        if service.needs_embedders(scan, target):
            embedders = await asyncio.to_thread(build_embedders, settings)
            await embedders.start()
        report = await service.import_file(
            conn,
            path,
            scan=scan,
            target=target,
            embedders=embedders,
            text_fields=settings.embedding_text_fields,
            skip_invalid=args.skip_invalid,
            batch_size=args.batch_size,
        )
    finally:
        if embedders is not None:
            await embedders.aclose()
        await conn.close()
    print_report(report, scan)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if not args.file.is_file():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
    url = resolve_database_url(settings)
    upgrade(url)
    try:
        return asyncio.run(run(url, args.file, args, settings))
    except (service.TransferError, SchemaMismatch, EmbeddingConfigError) as exc:
        print(f"import failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
