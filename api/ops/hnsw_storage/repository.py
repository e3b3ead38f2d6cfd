"""SQL of an HNSW index rebuilt beside the one it replaces, then swapped for it.

Index names are the migrations' (VectorTarget.index) with `_next` for the new one; sizes are
validated integers (DDL takes no bind parameters).
"""

import asyncpg

from api.core.vectors.repository import hnsw_index_sql
from api.core.vectors.schemas import HnswStorage, VectorTarget


def next_index(target: VectorTarget) -> str:
    return f"{target.index}_next"


async def build_next_index(
    conn: asyncpg.Connection,
    target: VectorTarget,
    *,
    storage: HnswStorage,
    dimension: int,
    m: int,
    ef_construction: int,
) -> None:
    """The new index, from scratch: one an interrupted run left (perhaps invalid) is dropped."""
    await conn.execute(f"DROP INDEX IF EXISTS {next_index(target)}")
    await conn.execute(
        hnsw_index_sql(
            target.table,
            target.column,
            next_index(target),
            storage=storage,
            dimension=dimension,
            m=m,
            ef_construction=ef_construction,
        )
    )


async def replace_index(conn: asyncpg.Connection, target: VectorTarget) -> None:
    """Drop the old index and give the new one its name, in one transaction."""
    async with conn.transaction():
        await conn.execute(f"DROP INDEX IF EXISTS {target.index}")
        await conn.execute(f"ALTER INDEX {next_index(target)} RENAME TO {target.index}")
