"""The BM25 top-k statement shared by event and code search (pg_textsearch 1.4.0).

Two facts of pg_textsearch shape it (measured in docs/benchmarks.md, "BM25's top k"):

- Its ordered scan scores only the top N matches when the planner hands it N: a constant
  LIMIT right above a scan ordered by the score alone, in a statement planned when it runs
  (the pool plans every statement on execution: `plan_cache_mode`, api/core/database.py).
  A LIMIT given as a parameter, a tie-breaker after the score, or a cached generic plan hide
  N, and the scan scores up to `pg_textsearch.default_limit` (1,000) matches instead.
- `text <@> query` in a select list scores its row again from scratch, index statistics and
  all (~30 us a row), where `bm25_get_current_score()` is the score the scan just computed
  for the row it returned. That value is the scan's only under a plan that reads the BM25
  index: a plan that sorts instead (a selective filter, a small table) leaves one stale value
  on every row. So a scan whose rows all carry the same value is scored again, row by row.
"""

# The least scan: below it, rounding up costs nothing measurable.
MIN_SCAN_LIMIT = 16


def scan_limit(wanted: int) -> int:
    """The scan's LIMIT for `wanted` rows: a power of two, so a handful of statements (each
    `wanted` would otherwise be a statement of its own) cover every page size and offset."""
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
