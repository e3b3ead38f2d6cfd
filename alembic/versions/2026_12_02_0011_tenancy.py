"""Tenancy: a tenants table, tenant_id in every tenant-owned table and its keys, scope columns on
events, API keys in the database, and Row-Level Security enforced on a role that owns nothing.

Every existing row moves into the `default` tenant. Primary keys become (tenant_id, id) and
every foreign key and unique constraint carries tenant_id (what Citus needs to distribute by
tenant). The service sets `mnemolite.tenant_id` on each connection it hands out; a column's
default reads it, so a write without a tenant fails instead of landing somewhere.

Revision ID: 0011_tenancy
Revises: 0010_ui_session_epoch
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_tenancy"
down_revision: str | None = "0010_ui_session_epoch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Also in api/core/tenancy.py (migrations do not import the application).
DEFAULT_TENANT_ID = "00000000-0000-4000-8000-000000000001"
APP_ROLE = "mnemolite_app"  # one tenant's work: its policy admits the connection's tenant
SYSTEM_ROLE = "mnemolite_system"  # the job queue, key lookup, administration: every row
ROLES = (APP_ROLE, SYSTEM_ROLE)
CURRENT_TENANT = "nullif(current_setting('mnemolite.tenant_id', true), '')::uuid"

TENANT_TABLES = (
    "events",
    "code_files",
    "code_chunks",
    "nodes",
    "edges",
    "index_jobs",
    "idempotency_keys",
    "api_keys",
)
# The operators whose functions back the GIN-indexed filters (metadata containment, full text,
# trigram name search). Under RLS the planner uses an index for a condition only when its
# function is LEAKPROOF; none of these raises an error that depends on a row's value.
LEAKPROOF_FUNCTIONS = (
    "jsonb_contains(jsonb, jsonb)",
    "jsonb_exists_any(jsonb, text[])",
    "ts_match_vq(tsvector, tsquery)",
    "textlike(text, text)",
    "texticlike(text, text)",
    "word_similarity_op(text, text)",
)

# (table, constraint, old columns, new columns): primary keys and unique constraints.
KEYS = (
    ("events", "events_pkey", "PRIMARY KEY (id)", "PRIMARY KEY (tenant_id, id)"),
    ("code_files", "code_files_pkey", "PRIMARY KEY (id)", "PRIMARY KEY (tenant_id, id)"),
    (
        "code_files",
        "code_files_repository_path",
        "UNIQUE (repository, path)",
        "UNIQUE (tenant_id, repository, path)",
    ),
    ("code_chunks", "code_chunks_pkey", "PRIMARY KEY (id)", "PRIMARY KEY (tenant_id, id)"),
    ("nodes", "nodes_pkey", "PRIMARY KEY (id)", "PRIMARY KEY (tenant_id, id)"),
    ("edges", "edges_pkey", "PRIMARY KEY (id)", "PRIMARY KEY (tenant_id, id)"),
    (
        "edges",
        "edges_unique",
        "UNIQUE (source_id, target_id, relationship)",
        "UNIQUE (tenant_id, source_id, target_id, relationship)",
    ),
    ("index_jobs", "index_jobs_pkey", "PRIMARY KEY (id)", "PRIMARY KEY (tenant_id, id)"),
    (
        "idempotency_keys",
        "idempotency_keys_pkey",
        "PRIMARY KEY (key)",
        "PRIMARY KEY (tenant_id, key)",
    ),
)
# (table, constraint, old definition, new definition): foreign keys between tenant tables.
FOREIGN_KEYS = (
    (
        "code_chunks",
        "code_chunks_file_id_fkey",
        "FOREIGN KEY (file_id) REFERENCES code_files (id) ON DELETE CASCADE",
        "FOREIGN KEY (tenant_id, file_id) REFERENCES code_files (tenant_id, id) ON DELETE CASCADE",
    ),
    (
        "nodes",
        "nodes_chunk_id_fkey",
        "FOREIGN KEY (chunk_id) REFERENCES code_chunks (id) ON DELETE CASCADE",
        # MATCH SIMPLE: a node without a chunk (an external name) has a NULL chunk_id.
        "FOREIGN KEY (tenant_id, chunk_id) REFERENCES code_chunks (tenant_id, id) "
        "ON DELETE CASCADE",
    ),
    (
        "edges",
        "edges_source_id_fkey",
        "FOREIGN KEY (source_id) REFERENCES nodes (id) ON DELETE CASCADE",
        "FOREIGN KEY (tenant_id, source_id) REFERENCES nodes (tenant_id, id) ON DELETE CASCADE",
    ),
    (
        "edges",
        "edges_target_id_fkey",
        "FOREIGN KEY (target_id) REFERENCES nodes (id) ON DELETE CASCADE",
        "FOREIGN KEY (tenant_id, target_id) REFERENCES nodes (tenant_id, id) ON DELETE CASCADE",
    ),
)
# (name, old definition, new definition): secondary indexes, led by tenant_id.
INDEXES = (
    ("events_timestamp", "events (timestamp)", "events (tenant_id, timestamp)"),
    ("code_chunks_file", "code_chunks (file_id)", "code_chunks (tenant_id, file_id)"),
    (
        "code_chunks_repository_kind",
        "code_chunks (repository, kind)",
        "code_chunks (tenant_id, repository, kind)",
    ),
    (
        "code_chunks_repository_language",
        "code_chunks (repository, language)",
        "code_chunks (tenant_id, repository, language)",
    ),
    (
        "code_chunks_repository_path",
        "code_chunks (repository, file_path text_pattern_ops)",
        "code_chunks (tenant_id, repository, file_path text_pattern_ops)",
    ),
    ("edges_repository", "edges (repository)", "edges (tenant_id, repository)"),
    (
        "edges_source",
        "edges (source_id, relationship)",
        "edges (tenant_id, source_id, relationship)",
    ),
    (
        "edges_target",
        "edges (target_id, relationship)",
        "edges (tenant_id, target_id, relationship)",
    ),
    ("nodes_repository_kind", "nodes (repository, kind)", "nodes (tenant_id, repository, kind)"),
    # GIN led by tenant_id too (btree_gin): the index finds one tenant's matches only, so a
    # full-text filter does not visit, then discard, every other tenant's rows.
    (
        "events_search_text_gin",
        "events USING gin (search_text) WITH (gin_pending_list_limit = 256)",
        "events USING gin (tenant_id, search_text) WITH (gin_pending_list_limit = 256)",
    ),
    (
        "code_chunks_search_text_gin",
        "code_chunks USING gin (search_text) WITH (gin_pending_list_limit = 256)",
        "code_chunks USING gin (tenant_id, search_text) WITH (gin_pending_list_limit = 256)",
    ),
)
SCOPES = ("user_id", "agent_id", "session_id")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE tenants (
            id uuid PRIMARY KEY DEFAULT uuidv7(),
            name text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
            settings jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(f"INSERT INTO tenants (id, name) VALUES ('{DEFAULT_TENANT_ID}', 'default')")
    op.execute(
        f"""
        CREATE TABLE api_keys (
            tenant_id uuid NOT NULL DEFAULT {CURRENT_TENANT},
            id uuid NOT NULL DEFAULT uuidv7(),
            prefix text NOT NULL UNIQUE,
            secret_hash text NOT NULL UNIQUE,
            role text NOT NULL CHECK (role IN ('read', 'write', 'admin')),
            label text CHECK (char_length(label) <= 200),
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz,
            revoked_at timestamptz,
            last_used_at timestamptz,
            PRIMARY KEY (tenant_id, id)
        )
        """
    )
    for table in TENANT_TABLES:
        if table != "api_keys":
            # A constant default fills the existing rows without a rewrite; then the session's.
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN tenant_id uuid NOT NULL "
                f"DEFAULT '{DEFAULT_TENANT_ID}'"
            )
            op.execute(f"ALTER TABLE {table} ALTER COLUMN tenant_id SET DEFAULT {CURRENT_TENANT}")
    for table, name, _, _ in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for table, name, _, new in KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {new}")
    for table, name, _, new in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {new}")
    for table in TENANT_TABLES:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_tenant_fkey "
            "FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE"
        )
    # A trusted contrib extension: the database's owner may create it. The downgrade leaves
    # it, as other objects of the database may use it.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    for name, _, new in INDEXES:
        op.execute(f"DROP INDEX {name}")
        op.execute(f"CREATE INDEX {name} ON {new}")
    op.execute("DROP INDEX nodes_chunk")
    op.execute("CREATE UNIQUE INDEX nodes_chunk ON nodes (tenant_id, chunk_id)")
    # Metadata has both: led by tenant_id for a tenant among many (its matches only), and the
    # plain one for a tenant that holds most rows, where intersecting with its tenant_id entry
    # costs more than it saves (measured: 1%-filtered search 1.8x slower for a lone tenant with
    # the first alone). The planner picks one from the tenant_id statistics.
    op.execute(
        "CREATE INDEX events_tenant_metadata_gin ON events "
        "USING gin (tenant_id, metadata jsonb_path_ops) WITH (gin_pending_list_limit = 256)"
    )

    for scope in SCOPES:
        op.execute(
            f"ALTER TABLE events ADD COLUMN {scope} text "
            f"CONSTRAINT events_{scope}_length CHECK (char_length({scope}) BETWEEN 1 AND 200)"
        )
        op.execute(
            f"CREATE INDEX events_{scope} ON events (tenant_id, {scope}, timestamp) "
            f"WHERE {scope} IS NOT NULL"
        )

    _secure()


def _secure() -> None:
    """The roles the service works as, their grants, the policies, and the LEAKPROOF marks.

    One policy per role, each a single condition: the tenant's is a plain comparison, which
    the planner uses as an index condition (evaluated once per scan). An `OR` of the two in one
    policy was evaluated on every row and cost a capped count of 5,000 rows three times more.
    """
    for role in ROLES:
        op.execute(
            f"""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE {role} NOLOGIN;
                END IF;
                -- The service connects as the owner and switches to the role (SET ROLE):
                -- only a member may, and a superuser needs no membership.
                IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                   AND NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
                    EXECUTE format('GRANT {role} TO %I', current_user);
                END IF;
            END
            $$
            """
        )
        op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
        # Tables of later migrations are granted too; their policies are theirs to add.
        op.execute(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"
        )
        op.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}"
        )
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} TO {APP_ROLE} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )
        op.execute(
            f"CREATE POLICY system_access ON {table} TO {SYSTEM_ROLE} "
            "USING (true) WITH CHECK (true)"
        )
    marks = "\n".join(f"ALTER FUNCTION {f} LEAKPROOF;" for f in LEAKPROOF_FUNCTIONS)
    # Only a superuser may; elsewhere the policies still hold and those filters scan the
    # tenant's rows instead (docs/security.md says how an administrator adds the marks).
    op.execute(
        f"""
        DO $$
        BEGIN
            IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                {marks}
            END IF;
        END
        $$
        """
    )


def downgrade() -> None:
    # Two tenants may hold the same id, repository path or idempotency key: refuse rather than
    # drop their data or fail half-way.
    checks = " UNION ALL ".join(
        f"SELECT '{table}' FROM {table} WHERE tenant_id <> '{DEFAULT_TENANT_ID}'"
        for table in TENANT_TABLES
        if table != "api_keys"
    )
    op.execute(
        f"""
        DO $$
        DECLARE found text;
        BEGIN
            SELECT * INTO found FROM ({checks}) AS other LIMIT 1;
            IF found IS NOT NULL THEN
                RAISE EXCEPTION 'table % holds rows of a tenant other than default: export '
                    'or delete them before downgrading below 0011', found;
            END IF;
        END
        $$
        """
    )
    marks = "\n".join(f"ALTER FUNCTION {f} NOT LEAKPROOF;" for f in LEAKPROOF_FUNCTIONS)
    op.execute(
        f"""
        DO $$
        BEGIN
            IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                {marks}
            END IF;
        END
        $$
        """
    )
    for table in TENANT_TABLES:
        op.execute(f"DROP POLICY tenant_isolation ON {table}")
        op.execute(f"DROP POLICY system_access ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for role in ROLES:
        op.execute(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {role}"
        )
        op.execute(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f"REVOKE USAGE, SELECT ON SEQUENCES FROM {role}"
        )
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
    # The roles are the cluster's and other databases may use them: they stay.

    for scope in SCOPES:
        op.execute(f"ALTER TABLE events DROP COLUMN {scope}")
    op.execute("DROP INDEX events_tenant_metadata_gin")
    op.execute("DROP INDEX nodes_chunk")
    op.execute("CREATE UNIQUE INDEX nodes_chunk ON nodes (chunk_id)")
    for name, old, _ in INDEXES:
        op.execute(f"DROP INDEX {name}")
        op.execute(f"CREATE INDEX {name} ON {old}")
    for table in TENANT_TABLES:
        if table != "api_keys":
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_tenant_fkey")
    for table, name, _, _ in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for table, name, old, _ in KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {old}")
    for table, name, old, _ in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {old}")
    for table in TENANT_TABLES:
        if table != "api_keys":
            op.execute(f"ALTER TABLE {table} DROP COLUMN tenant_id")
    op.execute("DROP TABLE api_keys")
    op.execute("DROP TABLE tenants")
