"""A Citus coordinator's checkout: one transaction that carries the tenant to the shards.

api.core.database hands out every connection through `distributed_scope`; on a single server
it does nothing. docs/scaling.md ("How the service works on it") says why each part is there.
"""

import contextlib
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg

from api.core.errors import DatabaseUnavailable


@contextlib.asynccontextmanager
async def distributed_scope(
    connection: asyncpg.Connection, tenant_id: UUID | None
) -> AsyncIterator[None]:
    """On a Citus coordinator, the checkout is one transaction that sends the tenant and the
    session's search settings to every shard it touches; elsewhere nothing.

    Citus opens its own connections to the workers, as the current role, and carries over only
    `SET LOCAL` commands, and only with `citus.propagate_set_commands = 'local'` (a session's
    settings, `set_config` and the pool's server settings stay on the coordinator). The shards'
    policies compare tenant_id with `mnemolite.tenant_id` there as here.
    """
    shard_settings = getattr(connection, "shard_settings", None)
    if shard_settings is None:
        yield
        return
    assert tenant_id is None or isinstance(tenant_id, UUID)
    values = {"mnemolite.tenant_id": str(tenant_id or ""), **shard_settings}
    # Simple-query protocol, one round trip: the names and values are ours (settings, a UUID).
    statements = ["SET LOCAL citus.propagate_set_commands TO 'local'"]
    statements += [f"SET LOCAL {name} TO '{value}'" for name, value in values.items()]
    try:
        async with connection.transaction():
            await connection.execute(";\n".join(statements))
            yield
    except asyncpg.InternalServerError as exc:
        # A worker connection that broke in this transaction (the worker stopped): a 503 to
        # retry, like any database that cannot be reached.
        if not any(words in str(exc) for words in LOST_WORKER):
            raise
        raise DatabaseUnavailable(
            "A node of the database cluster cannot be reached; retry shortly."
        ) from exc


# Citus raises XX000 for a worker connection lost inside a transaction: in its own words, or,
# when the worker's reply carried no SQLSTATE, in libpq's (remote_commands.c, ReportResultError).
# A worker's own errors keep their SQLSTATE and are not among these. "could not commit" is also
# Citus's word for a deferred constraint failing on a shard; the schema has none.
LOST_WORKER = (
    "failure on connection marked as essential",
    "could not commit transaction for shard",
    "server closed the connection unexpectedly",
    "connection not open",
    "no connection to the server",
    "could not receive data from server",
    "could not send data to server",
)
