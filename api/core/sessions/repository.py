"""All SQL on ui_session_epoch (one row). Values always travel as bind parameters."""

import asyncpg


async def current_epoch(conn: asyncpg.Connection) -> int:
    """The epoch session cookies are signed with now; 0 before the first sign-out."""
    epoch = await conn.fetchval("SELECT s.epoch FROM ui_session_epoch s WHERE s.id")
    return int(epoch) if epoch is not None else 0


async def advance_epoch(conn: asyncpg.Connection) -> int:
    """Move the epoch on (every cookie signed with an earlier one stops being valid)."""
    # An upsert, not an UPDATE: a missing row (emptied by hand) must not make sign-out a no-op.
    epoch = await conn.fetchval(
        """
        INSERT INTO ui_session_epoch AS s (id, epoch, revoked_at) VALUES (true, 1, now())
        ON CONFLICT (id) DO UPDATE SET epoch = s.epoch + 1, revoked_at = excluded.revoked_at
        RETURNING s.epoch
        """
    )
    return int(epoch)
