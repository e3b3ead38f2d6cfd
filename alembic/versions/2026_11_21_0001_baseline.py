"""Baseline: an empty revision.

A database created earlier by plain SQL scripts is adopted with `alembic stamp 0001_baseline`
(or `alembic stamp head` when it already has the full schema); see docs/migrations.md.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

revision: str = "0001_baseline"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
