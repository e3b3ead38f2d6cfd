"""Citus (issue 16): on a Citus coordinator, distribute the schema by tenant; elsewhere nothing.

Where the `citus` extension is installed in this database and this server is the coordinator
(`make run-cluster`, docs/scaling.md), the tables become:

- reference tables (a copy on every node): `tenants`, `api_keys` (looked up by prefix before
  the tenant is known), `ui_session_epoch` (one row);
- distributed by `tenant_id`, co-located (a tenant's rows of every table on the same shard, so
  its joins and foreign keys stay on one node): `events`, `code_files`, `code_chunks`, `nodes`,
  `edges`, `idempotency_keys`;
- on the coordinator, in Citus's metadata (a "Citus local table"): `index_jobs`, the job queue.
  Workers claim the oldest job of any tenant with `FOR UPDATE SKIP LOCKED`, which Citus runs
  on one node only; a queue holds few rows, and its tenant's code tables stay distributed.

The steps in the order Citus needs (DESIGN.md, "Scaling out"): the foreign keys to `tenants`
are dropped, since one to a reference table turns a plain table into a local one; the
reference tables are made; the tenant tables are distributed, each after the tables it
references; then the foreign keys to `tenants` come back. Policies and grants go to the shards
with their tables. The service's roles get LOGIN: Citus opens its connections to the workers as
the current role, and the policies bind that role there too. The LEAKPROOF marks of 0011 are
made on every worker (they are the workers' planners' to use).

pg_textsearch is not preloaded on a cluster (a BM25 index names itself in each query, and a
shard's index has the shard's name), so 0013 made no BM25 index and lexical search ranks with
ts_rank (docs/scaling.md).

A database is distributed when it is migrated, so a cluster starts from an empty schema (its
data comes by export and import, docs/operations.md). Downgrading turns every table back into a
plain one on the coordinator.

Revision ID: 0014_distribute
Revises: 0013_bm25
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_distribute"
down_revision: str | None = "0013_bm25"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("mnemolite_app", "mnemolite_system")
REFERENCE_TABLES = ("tenants", "api_keys", "ui_session_epoch")
# In the order of their foreign keys: each after the tables it references.
DISTRIBUTED_TABLES = (
    "events",
    "code_files",
    "code_chunks",
    "nodes",
    "edges",
    "idempotency_keys",
)
LOCAL_TABLES = ("index_jobs",)
# Every table with tenant_id, and its foreign key to tenants (migration 0011).
TENANT_FOREIGN_KEYS = (*DISTRIBUTED_TABLES, *LOCAL_TABLES, "api_keys")
TENANT_FOREIGN_KEY = "FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE"
# Also in migration 0011.
LEAKPROOF_FUNCTIONS = (
    "jsonb_contains(jsonb, jsonb)",
    "jsonb_exists_any(jsonb, text[])",
    "ts_match_vq(tsvector, tsquery)",
    "textlike(text, text)",
    "texticlike(text, text)",
    "word_similarity_op(text, text)",
)


def _on_coordinator(statements: list[str]) -> None:
    """Run `statements` in one block where this database is a Citus coordinator, else nothing
    (a PL/pgSQL block, so the offline SQL of `alembic upgrade --sql` decides where it runs)."""
    body = "\n".join(f"        {statement};" for statement in statements)
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
                IF citus_is_coordinator() THEN
        {body}
                END IF;
            END IF;
        END
        $$
        """
    )


def upgrade() -> None:
    # Foreign keys to a reference table want one connection per node in a transaction.
    statements = ["SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"]
    statements += [f"ALTER ROLE {role} LOGIN" for role in ROLES]
    statements += [
        f"ALTER TABLE {table} DROP CONSTRAINT {table}_tenant_fkey" for table in TENANT_FOREIGN_KEYS
    ]
    # api_keys references tenants: the referenced table first.
    statements += [f"PERFORM create_reference_table('{table}')" for table in REFERENCE_TABLES]
    for table in DISTRIBUTED_TABLES:
        colocation = "none" if table == DISTRIBUTED_TABLES[0] else DISTRIBUTED_TABLES[0]
        statements.append(
            f"PERFORM create_distributed_table('{table}', 'tenant_id', "
            f"colocate_with => '{colocation}')"
        )
    statements += [
        f"PERFORM citus_add_local_table_to_metadata('{table}')" for table in LOCAL_TABLES
    ]
    statements += [
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_tenant_fkey {TENANT_FOREIGN_KEY}"
        for table in TENANT_FOREIGN_KEYS
    ]
    statements += [
        f"PERFORM run_command_on_workers('ALTER FUNCTION {function} LEAKPROOF')"
        for function in LEAKPROOF_FUNCTIONS
    ]
    _on_coordinator(statements)


def downgrade() -> None:
    statements = ["SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"]
    statements += [
        f"ALTER TABLE {table} DROP CONSTRAINT {table}_tenant_fkey" for table in TENANT_FOREIGN_KEYS
    ]
    for table in (*reversed(DISTRIBUTED_TABLES), *LOCAL_TABLES, *reversed(REFERENCE_TABLES)):
        statements.append(f"PERFORM undistribute_table('{table}')")
    statements += [
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_tenant_fkey {TENANT_FOREIGN_KEY}"
        for table in TENANT_FOREIGN_KEYS
    ]
    statements += [f"ALTER ROLE {role} NOLOGIN" for role in ROLES]
    _on_coordinator(statements)
