"""UI session epoch: one row that every session cookie is signed with; signing out moves it on,
which revokes every cookie issued before, copies included (issue 11: session details).

Revision ID: 0010_ui_session_epoch
Revises: 0009_idempotency_keys
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_ui_session_epoch"
down_revision: str | None = "0009_idempotency_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # `id boolean PRIMARY KEY CHECK (id)` allows exactly one row.
    op.execute(
        """
        CREATE TABLE ui_session_epoch (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            epoch bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0),
            revoked_at timestamptz
        )
        """
    )
    op.execute("INSERT INTO ui_session_epoch (id, epoch) VALUES (true, 0)")


def downgrade() -> None:
    op.execute("DROP TABLE ui_session_epoch")
