"""Code index: files (with a content hash for incremental indexing) and their chunks.

Each chunk has two vectors, `embedding_text` (its natural-language side: split name, signature,
docstring) and `embedding_code` (its source), of EMBEDDING_DIMENSION; a weighted full-text
column over split identifiers (name A, signature and docstring B, body C); and a trigram index
on the qualified name. Deleting a file deletes its chunks.

Revision ID: 0004_code_index
Revises: 0003_events_full_text
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op
from api.core.migrations import vector_schema

revision: str = "0004_code_index"
down_revision: str | None = "0003_events_full_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dimension, m, ef_construction = vector_schema()

    op.execute(
        """
        CREATE TABLE code_files (
            id uuid PRIMARY KEY DEFAULT uuidv7(),
            repository text NOT NULL,
            path text NOT NULL,
            language text NOT NULL,
            content_hash text NOT NULL,
            size_bytes integer NOT NULL,
            commit_hash text,
            indexed_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT code_files_repository_path UNIQUE (repository, path)
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE code_chunks (
            id uuid PRIMARY KEY DEFAULT uuidv7(),
            file_id uuid NOT NULL REFERENCES code_files (id) ON DELETE CASCADE,
            repository text NOT NULL,
            file_path text NOT NULL,
            language text NOT NULL,
            kind text NOT NULL,
            name text NOT NULL,
            qualified_name text NOT NULL,
            start_line integer NOT NULL,
            end_line integer NOT NULL,
            source_code text NOT NULL,
            metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            embedding_text vector({dimension}),
            embedding_code vector({dimension}),
            search_name text NOT NULL DEFAULT '',
            search_doc text NOT NULL DEFAULT '',
            search_body text NOT NULL DEFAULT '',
            search_text tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('english', search_name), 'A')
                || setweight(to_tsvector('english', search_doc), 'B')
                || setweight(to_tsvector('english', search_body), 'C')
            ) STORED
        )
        """
    )
    # Vectors in the row, as for events (see 0002).
    op.execute("ALTER TABLE code_chunks ALTER COLUMN embedding_text SET STORAGE MAIN")
    op.execute("ALTER TABLE code_chunks ALTER COLUMN embedding_code SET STORAGE MAIN")
    for column in ("embedding_text", "embedding_code"):
        op.execute(
            f"""
            CREATE INDEX code_chunks_{column}_hnsw ON code_chunks
            USING hnsw ({column} vector_cosine_ops)
            WITH (m = {m}, ef_construction = {ef_construction})
            """
        )
    op.execute(
        """
        CREATE INDEX code_chunks_search_text_gin ON code_chunks USING gin (search_text)
        WITH (gin_pending_list_limit = 256)
        """
    )
    op.execute(
        "CREATE INDEX code_chunks_qualified_name_trgm ON code_chunks "
        "USING gin (qualified_name gin_trgm_ops)"
    )
    op.execute("CREATE INDEX code_chunks_file ON code_chunks (file_id)")
    op.execute(
        "CREATE INDEX code_chunks_repository_path ON code_chunks "
        "(repository, file_path text_pattern_ops)"
    )
    op.execute("CREATE INDEX code_chunks_repository_language ON code_chunks (repository, language)")
    op.execute("CREATE INDEX code_chunks_repository_kind ON code_chunks (repository, kind)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS code_chunks")
    op.execute("DROP TABLE IF EXISTS code_files")
