"""Index jobs: large repositories indexed in the background, with progress and errors.

A worker claims a queued job with FOR UPDATE SKIP LOCKED, so several workers never take the
same one. The request (files and options) is kept until the job ends.

Revision ID: 0006_index_jobs
Revises: 0005_code_graph
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_index_jobs"
down_revision: str | None = "0005_code_graph"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # `request` is JSON kept as text: jsonb cannot hold the NUL character, which a file's
    # content may contain (such files are then skipped as binary, not refused).
    op.execute(
        """
        CREATE TABLE index_jobs (
            id uuid PRIMARY KEY DEFAULT uuidv7(),
            repository text NOT NULL,
            status text NOT NULL DEFAULT 'queued',
            total_files integer NOT NULL,
            processed_files integer NOT NULL DEFAULT 0,
            indexed_chunks integer NOT NULL DEFAULT 0,
            errors jsonb NOT NULL DEFAULT '[]'::jsonb,
            request text,
            result jsonb,
            worker text,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz,
            CONSTRAINT index_jobs_status CHECK
                (status IN ('queued', 'running', 'succeeded', 'failed'))
        )
        """
    )
    op.execute("CREATE INDEX index_jobs_queue ON index_jobs (created_at) WHERE status = 'queued'")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS index_jobs")
