"""The WAL positions that decide whether a standby may serve a tenant's reads."""

from dataclasses import dataclass

import asyncpg


async def primary_position(conn: asyncpg.Connection) -> int:
    """The primary's current WAL write position, in bytes since the start of WAL.

    Every transaction that committed before this call has its commit record at or below it.
    """
    position = await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
    return int(position)


@dataclass(frozen=True)
class StandbyPosition:
    in_recovery: bool  # false once promoted: the server is a primary now
    replayed: int | None  # WAL replayed, in bytes; None on a server that is not a standby


async def standby_position(conn: asyncpg.Connection) -> StandbyPosition:
    row = await conn.fetchrow(
        "SELECT pg_is_in_recovery() AS in_recovery, "
        "pg_last_wal_replay_lsn() - '0/0'::pg_lsn AS replayed"
    )
    assert row is not None
    replayed = row["replayed"]
    return StandbyPosition(
        in_recovery=bool(row["in_recovery"]),
        replayed=None if replayed is None else int(replayed),
    )
