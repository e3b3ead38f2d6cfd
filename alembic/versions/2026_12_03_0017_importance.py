"""Importance and pinning (issue 17): `events.importance` (0 to 1, or none) and `events.pinned`.

A search may ask for them to count (`importance`, `pinned` on the request: the formula is in
docs/api.md, "Ranking by time and importance"); by default they change nothing. Both columns
are added without a table rewrite (a nullable column; a constant default).

Revision ID: 0017_importance
Revises: 0016_event_expiry
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_importance"
down_revision: str | None = "0016_event_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE events ADD COLUMN importance real "
        "CONSTRAINT events_importance_range CHECK (importance >= 0 AND importance <= 1)"
    )
    op.execute("ALTER TABLE events ADD COLUMN pinned boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE events DROP COLUMN pinned")
    op.execute("ALTER TABLE events DROP COLUMN importance")
