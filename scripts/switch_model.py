"""`make switch-model`: move the database to other embedding models (and vector size).

Every event and code chunk, of every tenant, is embedded again with the new models into new
columns beside the old ones; then one short transaction swaps the columns and their HNSW
indexes. The service must be stopped while this runs (checked). An interrupted run leaves the
old columns working; run the same command again to resume, or --abandon to drop the unfinished
new columns. At the end the command prints the settings the service needs to start with the
new models.

Usage: python -m scripts.switch_model --text-model NAME [--code-model NAME] --dimension N
       python -m scripts.switch_model --mock --dimension N   (mock embeddings: tests, demos)
       python -m scripts.switch_model --abandon
"""

import argparse
import asyncio
import sys

from tqdm import tqdm

from api.core.config import Settings, get_settings
from api.core.database import resolve_database_url, set_tenant
from api.core.log_setup import configure_logging
from api.core.schema.service import SchemaMismatch
from api.embeddings.exceptions import EmbeddingConfigError
from api.embeddings.factory import build_embedders
from api.ops.model_switch import service
from api.ops.model_switch.schemas import SwitchResult
from scripts.operations_db import connect

APPLICATION_NAME = "mnemolite-switch-model"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text-model", help="the new EMBEDDING_MODEL")
    parser.add_argument("--code-model", help="the new CODE_EMBEDDING_MODEL (default: the text one)")
    parser.add_argument("--dimension", type=int, help="the new models' vector size")
    parser.add_argument("--mock", action="store_true", help="mock embeddings (EMBEDDING_MODE=mock)")
    parser.add_argument("--batch-size", type=int, default=service.BATCH_SIZE)
    parser.add_argument(
        "--abandon", action="store_true", help="drop the new columns of an unfinished switch"
    )
    args = parser.parse_args(argv)
    if not args.abandon:
        if args.dimension is None:
            parser.error("--dimension is required")
        if not args.mock and not args.text_model:
            parser.error("--text-model is required (or --mock)")
    return args


def target_settings(current: Settings, args: argparse.Namespace) -> Settings:
    """The current settings with the new models, validated like any settings."""
    text_model = args.text_model or current.embedding_model
    values = {
        **current.model_dump(),
        "embedding_mode": "mock" if args.mock else "real",
        "embedding_model": text_model,
        "code_embedding_model": args.code_model or text_model,
        "embedding_dimension": args.dimension,
        "code_embedding_dimension": None,
    }
    return Settings.model_validate(values)


def env_lines(settings: Settings) -> list[str]:
    lines = [f"EMBEDDING_MODE={settings.embedding_mode}"]
    if settings.embedding_mode == "real":
        lines += [
            f"EMBEDDING_MODEL={settings.embedding_model}",
            f"CODE_EMBEDDING_MODEL={settings.code_embedding_model}",
        ]
    return [*lines, f"EMBEDDING_DIMENSION={settings.embedding_dimension}"]


class ProgressBars:
    """One progress bar per stage, on a terminal only."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm] = {}
        self.enabled = sys.stderr.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr)
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


async def switch(url: str, settings: Settings, args: argparse.Namespace) -> SwitchResult:
    embedders = await asyncio.to_thread(build_embedders, settings)
    await embedders.start()
    conn = await connect(url, application_name=APPLICATION_NAME)
    bars = ProgressBars()
    try:
        # Every tenant's rows: commands connect as the tables' owner, whom the tenant policies
        # do not bind; no tenant is set, so nothing here can take one tenant's rows for all.
        await set_tenant(conn, None, all_tenants=True)
        return await service.switch_model(
            conn,
            embedders,
            text_fields=settings.embedding_text_fields,
            hnsw_m=settings.hnsw_m,
            hnsw_ef_construction=settings.hnsw_ef_construction,
            hnsw_storage=settings.hnsw_storage,
            batch_size=args.batch_size,
            progress=bars,
        )
    finally:
        bars.close()
        await conn.close()
        await embedders.aclose()


async def abandon(url: str) -> list[str]:
    conn = await connect(url, application_name=APPLICATION_NAME)
    try:
        await service.ensure_service_stopped(conn)
        return await service.abandon(conn)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    current = get_settings()
    configure_logging(current.log_level, current.log_format)
    url = resolve_database_url(current)
    if args.abandon:
        try:
            dropped = asyncio.run(abandon(url))
        except service.SwitchError as exc:
            print(f"switch-model: {exc}", file=sys.stderr)
            return 1
        print(f"Dropped {', '.join(dropped)}." if dropped else "No unfinished switch to abandon.")
        return 0
    try:
        settings = target_settings(current, args)
        result = asyncio.run(switch(url, settings, args))
    except (ValueError, EmbeddingConfigError, service.SwitchError, SchemaMismatch) as exc:
        print(f"switch-model: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "\nInterrupted. The old columns are intact and the service can start as before; "
            "run the same command again to resume, or with --abandon to drop the new columns.",
            file=sys.stderr,
        )
        return 130
    print(
        f"Switched {result.events} events and {result.chunks} code chunks to "
        f"{result.text_model} / {result.code_model}, {result.old_dimension}-d -> "
        f"{result.dimension}-d, in {result.seconds:.1f} s"
        + (" (resumed an interrupted run)." if result.resumed else ".")
    )
    print("Set these in .env (or the service's environment) before starting the service:")
    for line in env_lines(settings):
        print(f"  {line}")
    print("A database migrated from scratch with these settings gets the same columns.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
