"""Run Alembic from Python (the start-up context, the tests) and list its revisions."""

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["database_url"] = database_url
    config.attributes["skip_logging_config"] = True
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def vector_schema() -> tuple[int, int, int]:
    """(EMBEDDING_DIMENSION, HNSW_M, HNSW_EF_CONSTRUCTION) for DDL, read when a migration runs.

    Integers validated by Settings: DDL cannot take bind parameters for a type modifier.
    """
    from api.core.config import get_settings

    settings = get_settings()
    return (
        int(settings.embedding_dimension),
        int(settings.hnsw_m),
        int(settings.hnsw_ef_construction),
    )


def hnsw_storage() -> str:
    """HNSW_STORAGE, read when a migration runs (vector or halfvec, validated by Settings)."""
    from api.core.config import get_settings

    return get_settings().hnsw_storage


def head_revision() -> str:
    script = ScriptDirectory(str(ROOT / "alembic"))
    head = script.get_current_head()
    if head is None:
        raise RuntimeError("alembic/versions holds no revision")
    return head


def known_revisions() -> set[str]:
    """Every revision under alembic/versions: a database at another one is from a newer version."""
    script = ScriptDirectory(str(ROOT / "alembic"))
    return {revision.revision for revision in script.walk_revisions()}
