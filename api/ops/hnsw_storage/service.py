"""`make hnsw-storage`: rebuild a migrated database's HNSW indexes to hold what HNSW_STORAGE
says (vector, or halfvec: half the index, docs/scaling.md).

Each index that holds the other storage is built again beside the old one, then swapped for it
in a short transaction; searches keep the old index until then. The service must be stopped
(checked): it reads which indexes hold halfvec when it starts, and would not use the new ones.
A run stopped anywhere is resumed by running it again; an index already right is left alone.
"""

import time

import asyncpg
import structlog

from api.core.vectors.schemas import VECTOR_TARGETS, HnswStorage
from api.core.vectors.service import hnsw_storage
from api.ops.hnsw_storage import repository
from api.ops.model_switch.service import ensure_service_stopped

log = structlog.get_logger(__name__)


async def rebuild_indexes(
    conn: asyncpg.Connection,
    storage: HnswStorage,
    *,
    dimension: int,
    m: int,
    ef_construction: int,
) -> list[str]:
    """Make every HNSW index hold `storage`; return the vector columns whose index was rebuilt."""
    await ensure_service_stopped(
        conn, before="rebuilding the HNSW indexes (it reads them when it starts)"
    )
    held = await hnsw_storage(conn)
    rebuilt = []
    for target in VECTOR_TARGETS:
        if held.get(target.name) == storage:
            continue
        started = time.perf_counter()
        await repository.build_next_index(
            conn,
            target,
            storage=storage,
            dimension=dimension,
            m=m,
            ef_construction=ef_construction,
        )
        await repository.replace_index(conn, target)
        seconds = round(time.perf_counter() - started, 2)
        log.info("hnsw_index_rebuilt", column=target.name, storage=storage, seconds=seconds)
        rebuilt.append(target.name)
    return rebuilt
