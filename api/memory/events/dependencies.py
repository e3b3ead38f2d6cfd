"""Dependencies of the events domain: a path id resolved to an existing event."""

from typing import Annotated
from uuid import UUID

from fastapi import Depends

from api.core.database import Conn
from api.core.dependencies import IncludeEmbedding
from api.memory.events import service
from api.memory.events.schemas import EventRead


async def valid_event(
    event_id: UUID, conn: Conn, include_embedding: IncludeEmbedding = False
) -> EventRead:
    return await service.get_event(conn, event_id, include_embedding=include_embedding)


ValidEvent = Annotated[EventRead, Depends(valid_event)]
