"""The limit a search is measured against: the same query as bare SQL on the same database.

One asyncpg connection as the tables' owner (no tenant condition, no policy), binary vectors,
the service's session settings (`hnsw.ef_search`, iterative scans, no JIT): for each kind of
search of `scripts.bench.search`, the statement that answers it with nothing around it.

- vector: `ORDER BY embedding <=> q LIMIT 10` (HNSW);
- filtered_1pct: the 1% of rows the filter selects, ranked exactly (`@>` through the GIN index);
- metadata_only: the newest 10 rows the filter selects;
- time_window: the newest 10 rows of the window;
- hybrid: the top 50 by vector and the top 50 by BM25 (pg_textsearch, where the database has
  its index; else ts_rank), back to back: the two lists the service fuses.

Prepared statements, planned once: the cheapest a client can send them (but BM25's, which
pg_textsearch runs fastest prepared anew for each run). Each call runs on a
private event loop, so the sync benchmark can interleave it with its HTTP requests.
"""

import asyncio
from typing import Any

import asyncpg
from pgvector.asyncpg import register_vector

from api.core.config import Settings
from api.core.database import asyncpg_dsn
from api.core.lexical.repository import fetch_fresh

BM25_INDEX = "events_lexical_bm25"  # migration 0013, as hybrid_bm25 names it

STATEMENTS = {
    "vector": "SELECT id FROM events ORDER BY embedding <=> $1 LIMIT 10",
    "filtered_1pct": """
        WITH matching AS MATERIALIZED (
            SELECT id, embedding <=> $1 AS distance FROM events WHERE metadata @> $2::jsonb
        )
        SELECT id FROM matching ORDER BY distance LIMIT 10""",
    "metadata_only": """
        SELECT id FROM events WHERE metadata @> $1::jsonb
        ORDER BY timestamp DESC, id DESC LIMIT 10""",
    "time_window": """
        SELECT id FROM events WHERE timestamp >= $1 AND timestamp < $2
        ORDER BY timestamp DESC, id DESC LIMIT 10""",
    "hybrid_vector": "SELECT id FROM events ORDER BY embedding <=> $1 LIMIT 50",
    "hybrid_bm25": """
        SELECT id FROM events
        ORDER BY lexical_text <@> to_bm25query($1, 'events_lexical_bm25') LIMIT 50""",
    "hybrid_ts_rank": """
        SELECT id FROM events, websearch_to_tsquery('english', $1) q
        WHERE search_text @@ q ORDER BY ts_rank_cd(search_text, q) DESC LIMIT 50""",
}


class BareSql:
    """Bare SQL on one connection, called synchronously (see the module's docstring)."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection = self.loop.run_until_complete(self._connect(database_url))
        self.bm25 = bool(
            self.loop.run_until_complete(
                self.conn.fetchval("SELECT to_regclass($1) IS NOT NULL", BM25_INDEX)
            )
        )
        self.prepared = {
            name: self.loop.run_until_complete(self.conn.prepare(sql))
            for name, sql in STATEMENTS.items()
            if self.bm25 or name != "hybrid_bm25"
        }

    @staticmethod
    async def _connect(url: str) -> asyncpg.Connection:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        await register_vector(conn)
        ef_search = Settings.model_fields["hnsw_ef_search"].default
        await conn.execute(
            f"SET jit = off; SET hnsw.iterative_scan = relaxed_order; "
            f"SET hnsw.ef_search = {ef_search}"
        )
        return conn

    def run(self, kind: str, *values: Any) -> None:
        """The bare SQL of a search of `kind`, given its values: (vector), (vector, filter as
        JSON), (filter as JSON), (start, end), or for hybrid (vector, text)."""
        self.loop.run_until_complete(self._run(kind, values))

    async def _run(self, kind: str, values: tuple[Any, ...]) -> None:
        if kind != "hybrid":
            await self.prepared[kind].fetch(*values)
            return
        vector, text = values
        await self.prepared["hybrid_vector"].fetch(vector)
        if self.bm25:
            # Prepared for each run, as the service does: planned again after another
            # statement, a prepared BM25 statement scores every match (lexical/repository.py).
            await fetch_fresh(self.conn, STATEMENTS["hybrid_bm25"], text)
        else:
            await self.prepared["hybrid_ts_rank"].fetch(text)

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()
