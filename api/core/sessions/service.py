"""Sign-out everywhere: a server-side epoch that every session cookie is signed with.

A cookie is an HMAC (keyed by API_KEY) of its issue time and of the epoch at sign-in, so it
holds no state of its own. Signing out moves the epoch on, which ends every session at once,
copies of the cookie included, in every worker process and replica sharing the database.
"""

import asyncpg

from api.core.database import Database
from api.core.sessions import repository


async def current_epoch(database: Database) -> int:
    async with database.connection() as conn:
        return await repository.current_epoch(conn)


async def epoch_of(conn: asyncpg.Connection) -> int:
    return await repository.current_epoch(conn)


async def sign_out_everywhere(conn: asyncpg.Connection) -> int:
    return await repository.advance_epoch(conn)
