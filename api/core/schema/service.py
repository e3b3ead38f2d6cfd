"""Is this database one the code can serve: at the Alembic head (or a revision it knows), with
vector columns of the configured size? Every entry point asks here (the API, the worker, the
MCP server, the operator commands), and /health reads the revision here for its report.
"""

from typing import Literal

import asyncpg
from pydantic import BaseModel

from api.core.errors import StartupError
from api.core.migrations import head_revision, known_revisions
from api.core.schema import repository
from api.core.schema.repository import Cursor
from api.core.vectors.schemas import LexicalRanking

# head: the service and the commands that read or write (their queries need every migration);
# known: a restored archive, which may be older (and upgraded after) but not newer.
Requirement = Literal["head", "known"]


class SchemaMismatch(StartupError):
    """The database cannot be used as it is: `problem` says what is wrong, `hint` what to do."""

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(f"{problem} {hint}")
        self.problem = problem
        self.hint = hint


class SchemaState(BaseModel):
    revision: str | None
    # events.embedding's declared size; None when the table does not exist.
    dimension: int | None
    head: str

    @property
    def at_head(self) -> bool:
        return self.revision == self.head


async def read_schema(conn: asyncpg.Connection, *, head: str | None = None) -> SchemaState:
    """The database's revision and vector size, not judged."""
    return SchemaState(
        revision=await repository.schema_revision(conn),
        dimension=await repository.embedding_dimension(conn),
        head=head or head_revision(),
    )


def read_schema_sync(cursor: Cursor, *, head: str | None = None) -> SchemaState:
    """`read_schema` over a psycopg2 cursor (the backup commands)."""
    return SchemaState(
        revision=repository.schema_revision_sync(cursor),
        dimension=repository.embedding_dimension_sync(cursor),
        head=head or head_revision(),
    )


async def ensure_schema(
    conn: asyncpg.Connection,
    *,
    dimension: int | None,
    head: str | None = None,
    require: Requirement = "head",
) -> SchemaState:
    """Refuse a database that is not migrated, or sized for other models; return what was read.

    `dimension` None skips the size check (a model switch, which is about to change it).
    """
    return verify(await read_schema(conn, head=head), dimension=dimension, require=require)


def verify(
    state: SchemaState, *, dimension: int | None, require: Requirement = "head"
) -> SchemaState:
    """Raise SchemaMismatch unless `state` meets `require` and holds `dimension`-d vectors."""
    _verify_revision(state, require)
    if dimension is not None and state.dimension != dimension:
        raise SchemaMismatch(
            f"events.embedding holds {state.dimension}-dimensional vectors but "
            f"EMBEDDING_DIMENSION is {dimension}.",
            f"Set EMBEDDING_DIMENSION={state.dimension} (and a model of that size in "
            "EMBEDDING_MODEL / CODE_EMBEDDING_MODEL), use a database migrated for "
            f"{dimension} dimensions, or move this one to other models with `make switch-model`.",
        )
    return state


def _verify_revision(state: SchemaState, require: Requirement) -> None:
    if state.at_head:
        return
    if state.revision is not None and state.revision not in known_revisions():
        raise SchemaMismatch(
            f"The database schema is at revision {state.revision}, unknown to this version of "
            "MnemoLite (written by a newer version?).",
            "Upgrade MnemoLite first.",
        )
    if require == "known" and state.revision is not None:
        return
    raise SchemaMismatch(
        f"The database schema is at revision {state.revision or 'none'}, this code needs "
        f"{state.head}.",
        "Run `make migrate-up` (alembic upgrade head) first.",
    )


async def lexical_ranking(conn: asyncpg.Connection) -> LexicalRanking:
    """bm25 where migration 0013 could build its BM25 indexes and the server reads them, else
    ts_rank (the service says so at start-up: api.startup)."""
    return "bm25" if await repository.bm25_ready(conn) else "ts_rank"
