"""Graceful shutdown: a request in flight when the app shuts down still completes.

uvicorn stops accepting connections and waits for requests in flight before it runs the
lifespan's shutdown; the lifespan then stops the index worker and closes the pool, which waits
for every borrowed connection to come back. This test holds a request on a row lock while the
shutdown starts, so it checks the second half without a server process.
"""

import asyncio

import asyncpg
import httpx
from asgi_lifespan import LifespanManager

from api.core.metrics import create_metrics
from api.main import create_app


async def wait_for_lock_waiter(conn: asyncpg.Connection) -> None:
    for _ in range(200):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'mnemolite' AND wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the request never waited for the lock")


async def test_a_request_in_flight_completes_during_shutdown(
    settings, embedders, database_url, conn
):
    app = create_app(
        settings, embedders=embedders, database_url=database_url, metrics=create_metrics()
    )
    manager = LifespanManager(app)
    await manager.__aenter__()
    shutdown: asyncio.Task[None] | None = None
    try:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            created = await client.post("/v1/events", json={"content": {"text": "slow"}})
            assert created.status_code == 201
            event_id = created.json()["id"]

            lock = conn.transaction()
            await lock.start()
            await conn.execute(
                "SELECT 1 FROM events WHERE id = $1 FOR UPDATE", created.json()["id"]
            )
            request = asyncio.create_task(
                client.patch(f"/v1/events/{event_id}/metadata", json={"done": True})
            )
            await wait_for_lock_waiter(conn)
            shutdown = asyncio.create_task(manager.__aexit__(None, None, None))
            await asyncio.sleep(0.3)
            assert not shutdown.done()  # the pool waits for the request's connection
            await lock.rollback()

            response = await asyncio.wait_for(request, 10)
            assert response.status_code == 200, response.text
            assert response.json()["metadata"] == {"done": True}
            await asyncio.wait_for(shutdown, 10)
    finally:
        if shutdown is None:
            await manager.__aexit__(None, None, None)
    stored = await conn.fetchval(
        "SELECT metadata->>'done' FROM events WHERE id = $1", created.json()["id"]
    )
    assert stored == "true"
