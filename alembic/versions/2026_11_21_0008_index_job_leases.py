"""Index job leases: a running job's worker renews `heartbeat_at`; a job whose lease lapsed
(its worker died or the service restarted) is claimed again, up to a number of attempts.

Revision ID: 0008_index_job_leases
Revises: 0007_graph_name_search
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_index_job_leases"
down_revision: str | None = "0007_graph_name_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE index_jobs
            ADD COLUMN heartbeat_at timestamptz,
            ADD COLUMN attempts integer NOT NULL DEFAULT 0
        """
    )
    # Jobs that are queued or running are few; the scrape-time queue gauges and the claim of
    # lapsed leases read only these.
    op.execute(
        "CREATE INDEX index_jobs_active ON index_jobs (status, heartbeat_at) "
        "WHERE status IN ('queued', 'running')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX index_jobs_active")
    op.execute("ALTER TABLE index_jobs DROP COLUMN attempts, DROP COLUMN heartbeat_at")
