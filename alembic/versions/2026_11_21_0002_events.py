"""Extensions and the events table with its vector, metadata and time indexes.

The vector dimension and the HNSW build parameters come from the settings
(EMBEDDING_DIMENSION, HNSW_M, HNSW_EF_CONSTRUCTION), read when the migration runs.

Revision ID: 0002_events
Revises: 0001_baseline
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op
from api.core.migrations import vector_schema

revision: str = "0002_events"
down_revision: str | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dimension, m, ef_construction = vector_schema()

    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        f"""
        CREATE TABLE events (
            id uuid PRIMARY KEY DEFAULT uuidv7(),
            timestamp timestamptz NOT NULL DEFAULT now(),
            content jsonb NOT NULL,
            metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            embedding vector({dimension}),
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT events_content_is_object CHECK (jsonb_typeof(content) = 'object'),
            CONSTRAINT events_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
        )
        """
    )
    # pgvector stores vectors EXTERNAL: with content and metadata a row passes the ~2 kB TOAST
    # threshold and the vector moves out of line, so every exact distance (filtered search,
    # hydration) costs a TOAST lookup. MAIN keeps it in the row; long content goes out instead.
    op.execute("ALTER TABLE events ALTER COLUMN embedding SET STORAGE MAIN")
    op.execute(
        f"""
        CREATE INDEX events_embedding_hnsw ON events
        USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef_construction})
        """
    )
    # A small GIN pending list: every query scans it linearly until it is merged, so the default
    # 4 MB (thousands of rows after a burst of writes) made filtered queries several ms slower.
    op.execute(
        """
        CREATE INDEX events_metadata_gin ON events USING gin (metadata jsonb_path_ops)
        WITH (gin_pending_list_limit = 256)
        """
    )
    op.execute("CREATE INDEX events_timestamp ON events (timestamp)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS events")
