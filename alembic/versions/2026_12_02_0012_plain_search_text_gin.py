"""Events' full text gets a plain GIN beside the tenant-led one, as metadata has (issue 13).

For a tenant that holds most of the table, intersecting its posting list in the tenant-led GIN
costs more than reading the other tenants' few matches: a large tenant's lexical search took
0.78 ms through it against 0.44 ms through a plain GIN, while a small tenant's took 0.32 ms
against 0.42 ms (benchmark databases of docs/benchmarks.md, one statement interleaved 300
times). With both, the planner picks by the tenant's statistics. The tenant-led one is renamed
after its columns, as `events_tenant_metadata_gin` is.

Revision ID: 0012_plain_search_text_gin
Revises: 0011_tenancy
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_plain_search_text_gin"
down_revision: str | None = "0011_tenancy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER INDEX events_search_text_gin RENAME TO events_tenant_search_text_gin")
    op.execute(
        "CREATE INDEX events_search_text_gin ON events "
        "USING gin (search_text) WITH (gin_pending_list_limit = 256)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX events_search_text_gin")
    op.execute("ALTER INDEX events_tenant_search_text_gin RENAME TO events_search_text_gin")
