"""SQL of nearest-neighbour search over any allow-listed vector column (see VectorTarget).

The domain supplies its filter as `where`: a function that appends its values to the bind
parameters it is given and returns SQL conditions over the target's alias. Values always travel
as bind parameters, but for `named`, the connection's own tenant when it is known to be large
(`tenant_is` says why). Every query here also compares the target's tenant_id with the
connection's tenant (every target table has the column), whatever the domain's filter says.
"""

from collections.abc import Callable
from typing import Any
from uuid import UUID

import asyncpg

from api.core.database import tenant_is
from api.core.vectors.schemas import (
    VECTOR_TARGETS,
    Candidate,
    HnswStorage,
    QueryVector,
    VectorTarget,
)

Where = Callable[[list[Any]], str]


async def nearest_exact(
    conn: asyncpg.Connection,
    target: VectorTarget,
    vector: QueryVector,
    where: Where,
    *,
    k: int,
    cap: int,
    named: UUID | None,
    columns: str | None = None,
) -> tuple[list[Candidate], int]:
    """Exact cosine distance over the tenant's rows that `where` selects, if there are at most
    `cap`: (the top `k`, how many rows matched, counting no further than `cap` + 1). Past the
    cap the candidates are not the top `k` of every match, and the caller goes to HNSW.

    One statement both counts and ranks, so the matching rows are read once (a 1%-filtered
    search of 100k rows took 5.3 ms as a capped count followed by this search, 2.8 ms as one).
    The MATERIALIZED CTE keeps the planner from walking the HNSW index and post-filtering,
    which loses most results when few rows match. `columns` (SQL over the target's alias):
    the top `k` rows' columns, returned with them (`Candidate.row`), read once they are ranked.
    """
    params: list[Any] = [vector]
    conditions = where(params)
    params += [cap + 1, k]
    alias, column = target.alias, f"{target.alias}.{target.column}"
    ranked = f"""
        SELECT id, distance, (SELECT count(*) FROM candidates) AS matching
        FROM candidates ORDER BY distance, id LIMIT ${len(params)}"""
    if columns is not None:
        ranked = f"""
        SELECT top.distance, top.matching, {columns} FROM ({ranked}) AS top
        JOIN {target.table} {alias} ON {tenant_is(alias, named)} AND {alias}.id = top.id
        ORDER BY top.distance, top.id"""
    records = await conn.fetch(
        f"""
        WITH candidates AS MATERIALIZED (
            SELECT {alias}.id, {column} <=> $1 AS distance
            FROM {target.table} {alias}
            WHERE {tenant_is(alias, named)} AND {conditions} AND {column} IS NOT NULL
            LIMIT ${len(params) - 1}
        ){ranked}
        """,
        *params,
    )
    matching = records[0]["matching"] if records else 0
    return _candidates(records, columns), matching


async def nearest_hnsw(
    conn: asyncpg.Connection,
    target: VectorTarget,
    vector: QueryVector,
    where: Where,
    *,
    filtered: bool,
    k: int,
    ef_search: int,
    session_ef_search: int,
    named: UUID | None,
    halfvec: bool = False,
    columns: str | None = None,
) -> list[Candidate]:
    """Approximate nearest neighbours through the HNSW index.

    Iterative scans (pgvector 0.8, on for every pooled session) keep walking the graph until
    `k` rows pass the filter; relaxed order is restored by the outer ORDER BY. Without a filter
    and within the session's ef_search the query runs as is, in one round trip; otherwise a
    short transaction raises ef_search and keeps the planner on the vector index.
    `halfvec`: the index holds the column cast to halfvec, so the walk orders by that cast;
    the distance returned, and the final order, are the full vectors'.
    `columns` (SQL over the target's alias): each row's columns, returned with it.
    """
    params: list[Any] = [vector]
    conditions = where(params)
    params.append(k)
    column = f"{target.alias}.{target.column}"
    selected = f"{target.alias}.id" if columns is None else columns
    walk = f"{column} <=> $1"
    if halfvec:
        half = f"halfvec({len(vector)})"  # the query's size is the column's (checked at start)
        walk = f"({column})::{half} <=> $1::{half}"
    query = f"""
        WITH nearest AS MATERIALIZED (
            SELECT {selected}, {column} <=> $1 AS distance
            FROM {target.table} {target.alias}
            WHERE {tenant_is(target.alias, named)} AND {conditions} AND {column} IS NOT NULL
            ORDER BY {walk}
            LIMIT ${len(params)}
        )
        SELECT * FROM nearest ORDER BY distance, id
        """
    if not filtered and ef_search <= session_ef_search:
        records = await conn.fetch(query, *params)
    else:
        scan = conn.transaction()
        await scan.start()
        try:
            # LOCAL, so the pooled session keeps its settings; SET, not set_config, as only
            # SET LOCAL reaches a cluster's shards (api.core.distributed).
            await conn.execute(TUNED_SCAN.format(ef_search=int(ef_search)))
            records = await conn.fetch(query, *params)
        finally:
            # Rolled back: a read loses nothing, and a savepoint (in a cluster's checkout, which
            # is a transaction) takes its SET LOCAL with it, where a release would keep it.
            await scan.rollback()
    return _candidates(records, columns)


TUNED_SCAN = """
    SET LOCAL hnsw.ef_search TO {ef_search};
    SET LOCAL hnsw.iterative_scan TO relaxed_order;
    SET LOCAL enable_seqscan TO off;
    SET LOCAL enable_bitmapscan TO off
"""


def _candidates(records: list[asyncpg.Record], columns: str | None) -> list[Candidate]:
    return [Candidate(r["id"], r["distance"], row=r if columns else None) for r in records]


def hnsw_index_sql(
    table: str,
    column: str,
    index: str,
    *,
    storage: HnswStorage,
    dimension: int,
    m: int,
    ef_construction: int,
    concurrently: bool = False,
) -> str:
    """The CREATE INDEX of a vector column's HNSW index: over the column itself (`vector`), or
    over its cast to half precision (`halfvec`, pgvector's half-precision indexing). For the
    migrations, the model switch and `make hnsw-storage` alike; names are theirs (constants),
    sizes validated integers."""
    key = f"{column} vector_cosine_ops"
    if storage == "halfvec":
        key = f"({column}::halfvec({int(dimension)})) halfvec_cosine_ops"
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS {index} "
        f"ON {table} USING hnsw ({key}) "
        f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
    )


async def hnsw_storage(conn: asyncpg.Connection) -> dict[str, HnswStorage]:
    """What each vector column's HNSW index holds ({VectorTarget.name: storage}); a column
    whose index is missing (an interrupted rebuild) is left out."""
    records = await conn.fetch(
        """
        SELECT ic.relname AS index, opc.opcname AS opclass
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_opclass opc ON opc.oid = i.indclass[0]
        WHERE ic.relname = ANY($1::text[]) AND ic.relnamespace = current_schema()::regnamespace
        """,
        [target.index for target in VECTOR_TARGETS],
    )
    opclasses = {r["index"]: r["opclass"] for r in records}
    return {
        target.name: "halfvec" if opclasses[target.index].startswith("halfvec") else "vector"
        for target in VECTOR_TARGETS
        if target.index in opclasses
    }
