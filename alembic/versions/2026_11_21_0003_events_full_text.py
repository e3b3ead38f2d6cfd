"""Full-text search over the string values of an event's content.

A generated tsvector column keeps itself current on every write; a GIN index serves lexical
and hybrid search. Downgrading drops only the derived column: no event is lost.

Revision ID: 0003_events_full_text
Revises: 0002_events
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_events_full_text"
down_revision: str | None = "0002_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE events ADD COLUMN search_text tsvector
        GENERATED ALWAYS AS (jsonb_to_tsvector('english', content, '["string"]')) STORED
        """
    )
    # Small pending list for the same reason as events_metadata_gin (see 0002).
    op.execute(
        """
        CREATE INDEX events_search_text_gin ON events USING gin (search_text)
        WITH (gin_pending_list_limit = 256)
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS events_search_text_gin")
    op.execute("ALTER TABLE events DROP COLUMN IF EXISTS search_text")
