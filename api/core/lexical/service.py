"""Which BM25 index a tenant's lexical search reads: its own, when it has one, or the shared one.

A large tenant can be given its own BM25 index (`python -m scripts.tenants lexical-index`): a
partial index over its rows alone. Its scan reads only that tenant's matches, where the shared
index's scan reads and filters out every other tenant's, and its word statistics (how rare a
word is, how long a text is) are that tenant's own, not every tenant's together. A statement
reading it names its tenant as a constant (`api.core.database.tenant_is`): the planner uses a
partial index only for a condition that implies its own. BM25 statements are prepared for each
run anyway, so naming a tenant costs no cached plan.
"""

from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

import asyncpg
import structlog

from api.core.kept import Kept
from api.core.lexical import repository
from api.core.lexical.schemas import TenantIndex

log = structlog.get_logger(__name__)

T = TypeVar("T")


class TenantIndexes(Kept[tuple[UUID, str], bool]):
    """Whether tenants have their own BM25 index, as read from the catalogue in the last
    `ttl_seconds` (one lookup per tenant and table in that time, not one per search).

    A new index is read from at most `ttl_seconds` after its build ends. A dropped one is
    noticed by the first search that fails to find it, which runs again on the shared index
    (`search`): no search fails for it. At most `max_entries` are kept, the oldest dropped first.
    """

    async def index(
        self, conn: asyncpg.Connection, table: str, tenant_id: UUID | None, shared: str
    ) -> str:
        """The name of the index `tenant_id`'s search of `table` reads: its own, or `shared`
        (always `shared` for an unnamed tenant, None)."""
        if tenant_id is None:
            return shared
        own = repository.tenant_index_name(table, tenant_id)
        valid = self.get((tenant_id, table))
        if valid is None:
            valid = await repository.tenant_index_valid(conn, own) is True
            self.put((tenant_id, table), valid)
        return own if valid else shared

    async def search(
        self,
        conn: asyncpg.Connection,
        table: str,
        tenant_id: UUID | None,
        shared: str,
        run: Callable[[str], Awaitable[T]],
    ) -> T:
        """`run(index)` on the index `tenant_id`'s search reads; on the shared index again
        when its own was dropped since it was looked up (each BM25 statement is prepared
        anew, so the missing index is found at the statement's preparation)."""
        index = await self.index(conn, table, tenant_id, shared)
        if index == shared:
            return await run(shared)
        try:
            return await run(index)
        except asyncpg.UndefinedObjectError:
            assert tenant_id is not None
            self.put((tenant_id, table), False)
            log.info("tenant_bm25_index_gone", index=index, table=table)
            return await run(shared)


async def create_tenant_index(conn: asyncpg.Connection, tenant_id: UUID) -> str:
    """Give `tenant_id` its own BM25 index over events (as the tables' owner, outside a
    transaction; writes go on meanwhile). Searches read it within `TenantIndexes.ttl_seconds`."""
    name = await repository.create_tenant_index(conn, "events", tenant_id)
    log.info("tenant_bm25_index_created", index=name)
    return name


async def drop_tenant_index(conn: asyncpg.Connection, tenant_id: UUID) -> bool:
    """Drop `tenant_id`'s own BM25 index, if it has one; its searches read the shared one."""
    return await repository.drop_tenant_index(conn, "events", tenant_id)


async def tenant_indexes(conn: asyncpg.Connection) -> list[TenantIndex]:
    """Every tenant's own BM25 index, a deleted tenant's included (`tenant` None)."""
    return [TenantIndex(**dict(record)) for record in await repository.tenant_indexes(conn)]
