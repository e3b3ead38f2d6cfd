"""BM25 lexical search (issue 14): a text column for it on events and code chunks, everywhere,
and pg_textsearch's BM25 indexes over them where the server offers the extension.

- `events.lexical_text`: the string values of the content, joined by spaces (what
  `jsonb_to_tsvector('english', content, '["string"]')` indexes for `search_text`), through the
  IMMUTABLE function `event_lexical_text(jsonb)`.
- `code_chunks.lexical_text`: the chunk's search words, the name three times (on the tuning
  half of `make eval`'s code set, 400 docstring queries: MRR@10 0.487 against 0.474 with the
  name once, at BM25's default parameters; four or six times ranked lower). The words themselves
  are made by the indexer (api/code/index/texts.py: identifiers split and whole, keywords left
  out).

Both are STORED generated columns (pg_textsearch does not index VIRTUAL ones): rows written
before this revision get theirs now, and every write keeps them current.

The indexes need pg_textsearch installed, preloaded (`shared_preload_libraries`) and creatable
(it is not a trusted extension: a superuser runs this, or has created it already). Where it is
not, the revision still applies, with a warning, and the service ranks lexical search with
ts_rank over `search_text` as before (docs/operations.md says how to add BM25 later: create the
extension, then this revision's indexes). BM25 parameters: events k1=0.9, b=0.4 (short turns of
dialogue: LoCoMo tuning half, turn R@5 0.624 against 0.601 with the defaults 1.2/0.75); code
k1=2.0, b=0.75 (the repeated name weighs more: MRR@10 0.503 against 0.487).

Downgrading drops the indexes, the columns and the function; the extension stays (other objects
of the database may use it).

Revision ID: 0013_bm25
Revises: 0012_plain_search_text_gin
Create Date: 2026-12-02
"""

import logging
from collections.abc import Sequence

from alembic import context, op

revision: str = "0013_bm25"
down_revision: str | None = "0012_plain_search_text_gin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

EXTENSION = "pg_textsearch"
# Also in api/core/schema/repository.py (migrations do not import the application).
INDEXES = {
    "events_lexical_bm25": "events USING bm25 (lexical_text) "
    "WITH (text_config = 'english', k1 = 0.9, b = 0.4)",
    "code_chunks_lexical_bm25": "code_chunks USING bm25 (lexical_text) "
    "WITH (text_config = 'english', k1 = 2.0, b = 0.75)",
}
FALLBACK = "lexical search ranks with ts_rank instead of BM25 (docs/operations.md)"


def upgrade() -> None:
    # A SQL-standard body is parsed now, so a restore under an empty search_path still finds
    # what it calls. Strings only, at any depth: the values jsonb_to_tsvector's filter keeps.
    op.execute(
        """
        CREATE FUNCTION event_lexical_text(content jsonb) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        RETURN (
            SELECT coalesce(string_agg(found.value #>> '{}', ' '), '')
            FROM jsonb_path_query(content, 'strict $.**') AS found(value)
            WHERE jsonb_typeof(found.value) = 'string'
        )
        """
    )
    op.execute(
        "ALTER TABLE events ADD COLUMN lexical_text text "
        "GENERATED ALWAYS AS (event_lexical_text(content)) STORED"
    )
    op.execute(
        """
        ALTER TABLE code_chunks ADD COLUMN lexical_text text GENERATED ALWAYS AS (
            search_name || ' ' || search_name || ' ' || search_name || ' '
            || search_doc || ' ' || search_body
        ) STORED
        """
    )
    indexes = "\n".join(f"CREATE INDEX {name} ON {spec};" for name, spec in INDEXES.items())
    # In SQL, so the offline script (alembic upgrade --sql) decides on the server it runs on.
    # A failure (not installed, not preloaded, not allowed) leaves the columns without indexes.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = '{EXTENSION}') THEN
                RAISE WARNING '{EXTENSION} is not installed on this server: {FALLBACK}';
                RETURN;
            END IF;
            BEGIN
                CREATE EXTENSION IF NOT EXISTS {EXTENSION};
                {indexes}
            EXCEPTION WHEN OTHERS THEN
                -- No RAISE placeholder: the offline script doubles every percent sign.
                RAISE WARNING USING MESSAGE =
                    '{EXTENSION} unusable (' || SQLERRM || '): {FALLBACK}';
            END;
        END
        $$
        """
    )
    if not context.is_offline_mode():
        _report()


def _report() -> None:
    """Log whether the BM25 indexes exist and, when they do not, why (the server's warning
    goes to SQLAlchemy's logger, silent by default)."""
    bind = op.get_bind()

    def ask(sql: str) -> object:
        return bind.exec_driver_sql(sql).scalar()

    missing = [name for name in INDEXES if ask(f"SELECT to_regclass('{name}') IS NULL")]
    if not missing:
        log.info("BM25 indexes created (%s)", ", ".join(INDEXES))
        return
    if not ask(f"SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = '{EXTENSION}')"):
        reason = f"{EXTENSION} is not installed on this server"
    elif ask(f"SELECT current_setting('{EXTENSION}.library_version', true) IS NULL"):
        reason = f"{EXTENSION} is installed but not in shared_preload_libraries"
    elif not ask(
        f"SELECT EXISTS (SELECT FROM pg_extension WHERE extname = '{EXTENSION}') "
        "OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
    ):
        reason = (
            f"CREATE EXTENSION {EXTENSION} needs a superuser (permission denied): have one "
            "create it, then build the indexes"
        )
    else:
        reason = "the server refused it (its warning is in its log)"
    log.warning("no BM25 indexes (%s): %s; %s", ", ".join(missing), reason, FALLBACK)


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("ALTER TABLE code_chunks DROP COLUMN lexical_text")
    op.execute("ALTER TABLE events DROP COLUMN lexical_text")
    op.execute("DROP FUNCTION event_lexical_text(jsonb)")
