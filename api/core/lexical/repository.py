"""The BM25 top-k statement shared by event and code search (pg_textsearch 1.4.0).

Three facts of pg_textsearch shape it (measured in docs/benchmarks.md, "BM25's top k"):

- Its ordered scan scores only the top N matches when the planner hands it N: a constant
  LIMIT right above a scan ordered by the score alone. A LIMIT given as a parameter, or a
  tie-breaker after the score, hides N, and the scan scores up to
  `pg_textsearch.default_limit` (1,000) matches instead. The limit reaches the scan only from
  the statement's planning: a cached generic plan loses it after its first run.
- `text <@> query` in a select list scores its row again from scratch, index statistics and
  all (~30 us a row). `bm25_get_current_score()` is the score the scan computed for the row it
  just returned; pg_textsearch puts it in place of an ORDER BY expression that is not selected,
  but only in a statement's main plan (not in a CTE), and only when the statement was parsed
  just before it is planned: a statement prepared once and planned again after any other
  statement on the connection scores every row again (2.8 ms against 0.85 for the top 64 of
  100k events). So each BM25 statement is prepared for its own execution (`fetch_fresh`).
- That cached score is the scan's only under a plan that reads the BM25 index: a plan that
  sorts instead (a selective filter, a small table) leaves one stale value on every row. So a
  scan whose rows all carry the same value is scored again, row by row.
"""

from typing import Any
from uuid import UUID

import asyncpg

# The least scan: below it, scanning a few rows more costs nothing measurable.
MIN_SCAN_LIMIT = 16


def scan_limit(wanted: int) -> int:
    """The scan's LIMIT for `wanted` rows: the next power of two, so that rows tied with the
    last one wanted are mostly among the scanned ones and the caller's `id` order decides
    between them, not the scan's."""
    if wanted < 1:
        raise ValueError(f"wanted must be positive, not {wanted}")
    return max(MIN_SCAN_LIMIT, 1 << (wanted - 1).bit_length())


def bm25_matches(
    *,
    table: str,
    alias: str,
    index: str,
    where: str,
    wanted: int,
    carry: tuple[str, ...] = (),
    own: bool = False,
) -> str:
    """A subquery, for a FROM clause, of the rows of `table` that `where` selects and that share
    a word with the query text `$1`: (id, the `carry` columns, distance), distance being the
    negative BM25 score (lower is better). The `wanted` best matches are among them; order and
    limit are the caller's. Never put it in a CTE or a subquery expression: pg_textsearch takes
    the scan's score only from a scan in the statement's main plan, and inside a CTE the scan
    scores each row twice. `table`, `alias`, `index` and `carry` are code's constants; `where`
    binds its values in the caller's parameters. `own`: `index` is a tenant's own, over
    `TENANT_INDEX_TEXT`."""
    text = f"{alias}.lexical_text"
    if own:
        text = TENANT_INDEX_TEXT.format(column=text)
    score = f"{text} <@> to_bm25query($1, '{index}')"
    carried = "".join(f", {alias}.{column}" for column in carry)
    names = "".join(f", {column}" for column in carry)
    return f"""(
        SELECT id{names}, distance FROM (
            SELECT id{names},
                   CASE WHEN min(cached) OVER () < max(cached) OVER () THEN cached
                        ELSE lexical_text <@> to_bm25query($1, '{index}')
                   END AS distance
            FROM (
                SELECT {alias}.id{carried}, {text} AS lexical_text,
                       bm25_get_current_score() AS cached
                FROM {table} {alias}
                WHERE {where}
                ORDER BY {score}
                LIMIT {scan_limit(wanted)}
            ) AS scan
        ) AS scored
        -- A row that shares no word scores 0: the ordered scan never returns one, but a plan
        -- that sorts the filtered rows does, after every match.
        WHERE distance < 0
    )"""


async def fetch_fresh(conn: asyncpg.Connection, sql: str, *params: Any) -> list[asyncpg.Record]:
    """Run a BM25 statement prepared for this execution alone: parsed, planned with its values
    and run, one round trip more than a cached statement and ~2 ms less (see above)."""
    statement = await conn.prepare(sql)
    records: list[asyncpg.Record] = await statement.fetch(*params)
    return records


# A tenant's own BM25 index: a partial index over its rows alone, beside the shared one.
# The options are migration 0013's for each table (migrations do not import the application).
# Events only: code search does not name its tenant, so it could not read one.
TENANT_INDEX_OPTIONS = {"events": "text_config = 'english', k1 = 0.9, b = 0.4"}
# What a tenant's own index covers: the same words as `lexical_text` (the text configuration
# lowercases every word anyway), as an expression the shared index does not cover. Written for
# the same column, both indexes could serve a statement naming the tenant's, and the planner
# would choose by cost; pg_textsearch then refuses a scan of the other index than the one
# named. (Its planner hook that enforces the named index sees only a statement's top level, and
# only a query given as a constant: ours sit in a subquery, their text a parameter.)
TENANT_INDEX_TEXT = "lower({column})"


def tenant_index_name(table: str, tenant_id: UUID) -> str:
    """The table's name, `_bm25_` and the tenant's UUID in hex (44 characters)."""
    if table not in TENANT_INDEX_OPTIONS:
        raise ValueError(f"no BM25 index is made for table {table!r}")
    if not isinstance(tenant_id, UUID):
        raise TypeError(f"a tenant is named by its UUID, not {type(tenant_id).__name__}")
    return f"{table}_bm25_{tenant_id.hex}"


async def tenant_index_valid(conn: asyncpg.Connection, name: str) -> bool | None:
    """Whether the index `name` is ready to be read: None when there is none, False while a
    concurrent build is under way or after one failed (PostgreSQL then keeps it, invalid)."""
    valid: bool | None = await conn.fetchval(
        "SELECT indisvalid AND indisready FROM pg_index WHERE indexrelid = to_regclass($1)", name
    )
    return valid


async def create_tenant_index(conn: asyncpg.Connection, table: str, tenant_id: UUID) -> str:
    """Build `tenant_id`'s own BM25 index over `table` without blocking writes (CREATE INDEX
    CONCURRENTLY: outside a transaction, as the table's owner). A failed build's leftover is
    dropped first. Returns the index's name."""
    name = tenant_index_name(table, tenant_id)
    if await tenant_index_valid(conn, name) is False:
        await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    # Every name and value here is code's or a UUID's canonical text.
    await conn.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} "
        f"USING bm25 (({TENANT_INDEX_TEXT.format(column='lexical_text')})) "
        f"WITH ({TENANT_INDEX_OPTIONS[table]}) WHERE tenant_id = '{tenant_id}'::uuid"
    )
    return name


async def drop_tenant_index(conn: asyncpg.Connection, table: str, tenant_id: UUID) -> bool:
    """Drop `tenant_id`'s own BM25 index over `table`; whether there was one."""
    name = tenant_index_name(table, tenant_id)
    existed = await tenant_index_valid(conn, name) is not None
    await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    return existed


async def tenant_indexes(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every tenant's own BM25 index: (name, table, tenant_id, tenant, valid, bytes), the
    tenant_id read from the name, its name None once the tenant is deleted. As the owner or
    the system role (`tenants` is read across tenants)."""
    records: list[asyncpg.Record] = await conn.fetch(
        r"""
        SELECT c.relname AS name, t.relname AS "table", tenant.id AS tenant_id,
               tenants.name AS tenant, i.indisvalid AND i.indisready AS valid,
               pg_relation_size(c.oid) AS bytes
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_am am ON am.oid = c.relam
        CROSS JOIN LATERAL (
            SELECT substring(c.relname FROM '_bm25_([0-9a-f]{32})$')::uuid AS id
        ) AS tenant
        LEFT JOIN tenants ON tenants.id = tenant.id
        WHERE am.amname = 'bm25' AND c.relnamespace = 'public'::regnamespace
          AND c.relname ~ '^events_bm25_[0-9a-f]{32}$'
        ORDER BY c.relname
        """
    )
    return records
