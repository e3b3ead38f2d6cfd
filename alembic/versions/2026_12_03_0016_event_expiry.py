"""Event expiry (issue 17): `events.expires_at`, and the index the purge walks.

An event with `expires_at` in the past is left out of every read at once (the events queries
compare it with now()) and deleted later, in small batches, by the purge of the service and the
workers (api/memory/events/expiry.py). The partial index holds only expiring events, led by the
tenant as the purge deletes tenant by tenant. Adding a nullable column without a default
rewrites nothing. Downgrade drops both: expiring events then stay for good.

Revision ID: 0016_event_expiry
Revises: 0015_hnsw_storage
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_event_expiry"
down_revision: str | None = "0015_hnsw_storage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE events ADD COLUMN expires_at timestamptz")
    op.execute(
        "CREATE INDEX events_expiring ON events (tenant_id, expires_at) "
        "WHERE expires_at IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX events_expiring")
    op.execute("ALTER TABLE events DROP COLUMN expires_at")
