"""SQL for backup and restore, over psycopg2 cursors (database-level statements such as CREATE
DATABASE cannot run inside a transaction, which asyncpg's pool would not make easier).

Names of databases are identifiers, quoted by psycopg2.sql; every value is a bind parameter.
"""

from typing import Any

from psycopg2 import sql

# A psycopg2 cursor; the library ships no type information.
Cursor = Any


def database_exists(cursor: Cursor, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    return cursor.fetchone() is not None


def other_sessions(cursor: Cursor, name: str) -> int:
    """Sessions connected to database `name`, other than this one."""
    cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
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
