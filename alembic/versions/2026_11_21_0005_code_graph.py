"""Code graph: nodes (chunks, modules, external names) and typed edges between them.

A node made from a chunk goes with it (cascade); edges go with their nodes. Rebuilding a
repository's graph deletes its nodes and inserts the new ones.

Revision ID: 0005_code_graph
Revises: 0004_code_index
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_code_graph"
down_revision: str | None = "0004_code_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE nodes (
            id uuid PRIMARY KEY DEFAULT uuidv7(),
            repository text NOT NULL,
            chunk_id uuid REFERENCES code_chunks (id) ON DELETE CASCADE,
            kind text NOT NULL,
            name text NOT NULL,
            qualified_name text NOT NULL,
            file_path text
        )
        """
    )
    op.execute("CREATE INDEX nodes_repository_kind ON nodes (repository, kind)")
    op.execute("CREATE UNIQUE INDEX nodes_chunk ON nodes (chunk_id)")
    op.execute(
        """
        CREATE TABLE edges (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            repository text NOT NULL,
            source_id uuid NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
            target_id uuid NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
            relationship text NOT NULL,
            CONSTRAINT edges_relationship CHECK
                (relationship IN ('calls', 'imports', 'contains', 'inherits')),
            CONSTRAINT edges_unique UNIQUE (source_id, target_id, relationship)
        )
        """
    )
    op.execute("CREATE INDEX edges_source ON edges (source_id, relationship)")
    op.execute("CREATE INDEX edges_target ON edges (target_id, relationship)")
    op.execute("CREATE INDEX edges_repository ON edges (repository)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS edges")
    op.execute("DROP TABLE IF EXISTS nodes")
