"""`make hnsw-storage`: rebuild the HNSW indexes of a migrated database as HNSW_STORAGE says.

HNSW_STORAGE=halfvec builds them over the vectors cast to half precision (about half the
index, recall within 0.004: docs/scaling.md); vector builds them back. The service must be
stopped while this runs (checked), and started again after: it reads the indexes at start-up.
An interrupted run is resumed by running it again.

Usage: HNSW_STORAGE=halfvec python -m scripts.hnsw_storage
"""

import argparse
import asyncio
import sys

from api.core.config import Settings, get_settings
from api.core.database import resolve_database_url
from api.core.log_setup import configure_logging
from api.core.schema.service import SchemaMismatch, ensure_schema
from api.ops.hnsw_storage.service import rebuild_indexes
from api.ops.model_switch.service import SwitchError
from scripts.operations_db import connect

APPLICATION_NAME = "mnemolite-hnsw-storage"


async def rebuild(url: str, settings: Settings) -> list[str]:
    conn = await connect(url, application_name=APPLICATION_NAME)
    try:
        await ensure_schema(conn, dimension=settings.embedding_dimension)
        return await rebuild_indexes(
            conn,
            settings.hnsw_storage,
            dimension=settings.embedding_dimension,
            m=settings.hnsw_m,
            ef_construction=settings.hnsw_ef_construction,
        )
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        rebuilt = asyncio.run(rebuild(resolve_database_url(settings), settings))
    except (SwitchError, SchemaMismatch) as exc:
        print(f"hnsw-storage: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted: the old indexes serve; run it again to finish.", file=sys.stderr)
        return 130
    storage = settings.hnsw_storage
    if rebuilt:
        print(f"Rebuilt the HNSW indexes of {', '.join(rebuilt)} to hold {storage}.")
    else:
        print(f"Every HNSW index holds {storage} already.")
    print(f"Keep HNSW_STORAGE={storage} in .env (migrations read it), then start the service.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
