"""SQL for backup and restore, over psycopg2 cursors (database-level statements such as CREATE
DATABASE cannot run inside a transaction, which asyncpg's pool would not make easier).

Names of databases are identifiers, quoted by psycopg2.sql; every value is a bind parameter.
"""

from typing import Any

from psycopg2 import sql

from api.core.database import SERVICE_ROLES

# A psycopg2 cursor; the library ships no type information.
Cursor = Any

# As migration 0011 marks them (migrations do not import the application): the functions of
# the GIN-indexed filters, LEAKPROOF so that the planner uses their indexes under the policies.
LEAKPROOF_FUNCTIONS = (
    "jsonb_contains(jsonb, jsonb)",
    "jsonb_exists_any(jsonb, text[])",
    "ts_match_vq(tsvector, tsquery)",
    "textlike(text, text)",
    "texticlike(text, text)",
    "word_similarity_op(text, text)",
)


def database_exists(cursor: Cursor, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    return cursor.fetchone() is not None


def other_sessions(cursor: Cursor, name: str) -> int:
    """Client sessions connected to database `name`, other than this one, as of now.

    Autovacuum workers are left out: PostgreSQL ends them itself on a rename or drop. The
    statistics snapshot is cleared first, so repeated calls in one transaction see changes.
    """
    cursor.execute("SELECT pg_stat_clear_snapshot()")
    cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'",
        (name,),
    )
    count: int = cursor.fetchone()[0]
    return count


def create_database(cursor: Cursor, name: str) -> None:
    # template0: nothing a local template1 may hold (extensions, tables) mixes into the restore.
    cursor.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(cursor: Cursor, name: str) -> None:
    cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def rename_database(cursor: Cursor, name: str, new_name: str) -> None:
    """Transactional: two renames in one transaction swap databases atomically."""
    cursor.execute(
        sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
            sql.Identifier(name), sql.Identifier(new_name)
        )
    )


def has_tenancy(cursor: Cursor) -> bool:
    """Whether the database is at migration 0011 or later (it has the tenants table)."""
    cursor.execute("SELECT to_regclass('public.tenants') IS NOT NULL")
    present: bool = cursor.fetchone()[0]
    return present


def ensure_service_roles(cursor: Cursor) -> None:
    """Create the service's roles where this server lacks them, as migration 0011 does.

    They are the cluster's, not the database's: an archive names them in its policies (one per
    role) but cannot create them, and a policy for a missing role does not restore.
    """
    for name in SERVICE_ROLES:
        role = sql.Identifier(name)
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(role))
        cursor.execute(
            "SELECT rolsuper OR pg_has_role(current_user, %s, 'MEMBER') FROM pg_roles "
            "WHERE rolname = current_user",
            (name,),
        )
        if not cursor.fetchone()[0]:
            cursor.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(role))


def grant_service_roles(cursor: Cursor) -> None:
    """Give the service's roles back what migration 0011 granted them.

    A restore loads no privileges (`--no-privileges`: the archive may name roles this server
    lacks), and the service works as those roles: without their grants it can read nothing.
    The LEAKPROOF marks live in the database's catalogue too, and only a superuser may set them.
    """
    for name in SERVICE_ROLES:
        role = sql.Identifier(name)
        for statement in (
            "GRANT USAGE ON SCHEMA public TO {}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}",
        ):
            cursor.execute(sql.SQL(statement).format(role))
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    superuser = cursor.fetchone()[0]
    if superuser:
        for function in LEAKPROOF_FUNCTIONS:
            # Constant signatures of this module, not input.
            cursor.execute(f"ALTER FUNCTION {function} LEAKPROOF")
