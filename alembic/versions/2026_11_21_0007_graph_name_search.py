"""Trigram indexes on graph node names, for the web UI's function picker and path finder.

They find a function by any part of its name (`ILIKE '%tax%'`) without scanning every node.

Revision ID: 0007_graph_name_search
Revises: 0006_index_jobs
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_graph_name_search"
down_revision: str | None = "0006_index_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX nodes_name_trgm ON nodes USING gin (name gin_trgm_ops)")
    op.execute(
        "CREATE INDEX nodes_qualified_name_trgm ON nodes USING gin (qualified_name gin_trgm_ops)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX nodes_qualified_name_trgm")
    op.execute("DROP INDEX nodes_name_trgm")
