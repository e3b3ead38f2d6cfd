"""HNSW_STORAGE=halfvec: the HNSW indexes hold the vectors cast to half precision.

With the default (`vector`) nothing changes. With `halfvec` the three HNSW indexes (events,
code chunks' text and code vectors) are built again over `column::halfvec(N)`: about half the
size, recall within 0.004 of `vector` on the benchmark corpus (docs/scaling.md). The columns
keep full vectors. The setting is read when the migration runs, like HNSW_M; a database
migrated already is rebuilt by `make hnsw-storage` (scripts/hnsw_storage.py).

Revision ID: 0015_hnsw_storage
Revises: 0014_distribute
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op
from api.core.migrations import hnsw_storage, vector_schema
from api.core.vectors.repository import hnsw_index_sql
from api.core.vectors.schemas import VECTOR_TARGETS, HnswStorage

revision: str = "0015_hnsw_storage"
down_revision: str | None = "0014_distribute"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if hnsw_storage() == "halfvec":
        _rebuild("halfvec")


def downgrade() -> None:
    if hnsw_storage() == "halfvec":
        _rebuild("vector")


def _rebuild(storage: HnswStorage) -> None:
    dimension, m, ef_construction = vector_schema()
    for target in VECTOR_TARGETS:
        op.execute(f"DROP INDEX IF EXISTS {target.index}")
        op.execute(
            hnsw_index_sql(
                target.table,
                target.column,
                target.index,
                storage=storage,
                dimension=dimension,
                m=m,
                ef_construction=ef_construction,
            )
        )
