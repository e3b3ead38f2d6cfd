"""Nearest neighbours of a query vector, choosing the plan that cannot lose filtered results."""

import asyncpg

from api.core.database import connection_tenant
from api.core.vectors import repository
from api.core.vectors.repository import Where
from api.core.vectors.schemas import (
    HnswStorage,
    Neighbours,
    QueryVector,
    SearchTuning,
    VectorTarget,
)


async def nearest(
    conn: asyncpg.Connection,
    target: VectorTarget,
    vector: QueryVector,
    where: Where,
    *,
    filtered: bool,
    k: int,
    tuning: SearchTuning,
    columns: str | None = None,
) -> Neighbours:
    """Top-k of the tenant's rows of `target` by cosine distance (score = distance).

    At most `exact_max_rows` matching rows are answered exactly over those rows; otherwise HNSW
    with an iterative scan. One statement ranks the matching rows exactly and counts them up to
    the cap + 1, so a selective filter reads its rows once; past the cap its answer is set
    aside for HNSW. The tenant is itself a filter, so that statement runs even when `where`
    selects everything: a small tenant among large ones is searched exactly over its own rows,
    which the HNSW graph, built over every tenant, could not walk to within its scan limit.
    `filtered` says whether `where` selects anything less than the tenant's rows. An
    unfiltered search of a tenant known to be over the cap (`tuning.large_tenants`) goes
    straight to HNSW: the plan is already known. Such a tenant's statements name it
    (`api.core.database.tenant_is`), so they are planned for its size. `columns` (SQL over
    the target's alias): the rows' columns, returned in the same round trip (`Candidate.row`).
    """
    tenant = connection_tenant(conn)
    large = tuning.large_tenants.holds(tenant, target.table)
    named = tenant if large else None
    if tuning.exact_max_rows > 0 and not (large and not filtered):
        candidates, matching = await repository.nearest_exact(
            conn,
            target,
            vector,
            where,
            k=k,
            cap=tuning.exact_max_rows,
            named=named,
            columns=columns,
        )
        if matching <= tuning.exact_max_rows:
            return Neighbours(candidates, "exact")
        if not filtered:
            tuning.large_tenants.remember(tenant, target.table)
    candidates = await repository.nearest_hnsw(
        conn,
        target,
        vector,
        where,
        filtered=filtered,
        k=k,
        ef_search=max(tuning.ef_search, k),
        session_ef_search=tuning.ef_search,
        named=named,
        halfvec=target.name in tuning.halfvec_indexes,
        columns=columns,
    )
    return Neighbours(candidates, "hnsw")


async def hnsw_storage(conn: asyncpg.Connection) -> dict[str, HnswStorage]:
    """What each vector column's HNSW index holds ({VectorTarget.name: storage}); a column
    whose index is missing is left out."""
    return await repository.hnsw_storage(conn)


async def halfvec_indexes(conn: asyncpg.Connection) -> frozenset[str]:
    """The vector columns whose HNSW index holds halfvec (SearchTuning.halfvec_indexes)."""
    storage = await hnsw_storage(conn)
    return frozenset(name for name, held in storage.items() if held == "halfvec")
