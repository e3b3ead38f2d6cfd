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
    *, table: str, alias: str, index: str, where: str, wanted: int, carry: tuple[str, ...] = ()
) -> str:
    """A subquery, for a FROM clause, of the rows of `table` that `where` selects and that share
    a word with the query text `$1`: (id, the `carry` columns, distance), distance being the
    negative BM25 score (lower is better). The `wanted` best matches are among them; order and
    limit are the caller's. Never put it in a CTE or a subquery expression: pg_textsearch takes
    the scan's score only from a scan in the statement's main plan, and inside a CTE the scan
    scores each row twice. `table`, `alias`, `index` and `carry` are code's constants; `where`
    binds its values in the caller's parameters."""
    score = f"{alias}.lexical_text <@> to_bm25query($1, '{index}')"
    carried = "".join(f", {alias}.{column}" for column in carry)
    names = "".join(f", {column}" for column in carry)
    return f"""(
        SELECT id{names}, distance FROM (
            SELECT id{names},
                   CASE WHEN min(cached) OVER () < max(cached) OVER () THEN cached
                        ELSE lexical_text <@> to_bm25query($1, '{index}')
                   END AS distance
            FROM (
                SELECT {alias}.id{carried}, {alias}.lexical_text,
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
