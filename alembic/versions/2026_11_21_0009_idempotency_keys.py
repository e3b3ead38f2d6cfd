"""Idempotency keys: the stored response of a write made with an `Idempotency-Key` header, so a
retry of the same request replays it instead of writing again (issue 6: retries).

Revision ID: 0009_idempotency_keys
Revises: 0008_index_job_leases
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_idempotency_keys"
down_revision: str | None = "0008_index_job_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The primary key is what makes two concurrent requests with one key write once: the second
    # insert waits for the first transaction and then finds its row. status_code and
    # response_body are NULL only inside the claiming transaction, never in a committed row.
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            key text PRIMARY KEY CHECK (char_length(key) BETWEEN 1 AND 200),
            request_hash text NOT NULL,
            status_code integer,
            response_body text,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # Expired keys are purged oldest first, a few at a time, by the writes themselves.
    op.execute("CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
