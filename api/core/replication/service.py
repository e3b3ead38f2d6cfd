"""Read replicas: which server answers a read, and how far behind each standby is.

Reads (searches, listings, lookups) may go to a hot standby; writes always go to the primary.
A standby serves a tenant's read only when it is known to hold everything that tenant wrote.
Each poll notes the time, then reads the primary's WAL position: every commit made before that
time lies at or below it, so a standby that has replayed that position has *caught up to* the
time. A tenant's write is stamped when its connection goes back to the pool, after its commit;
the tenant reads from a standby again once the standby has caught up to a time after that stamp
(with the default poll of 0.2 s, well under a second after the write). Until then its reads go
to the primary: a client never sees its own write missing.

A standby that does not answer, has been promoted (it is no longer in recovery), or has not
caught up within READ_REPLICA_MAX_LAG_SECONDS serves nothing until it is back in line; reads then
go to the primary. Stamps are kept per process: several service processes in front of one
database each route their own tenants' reads, and a tenant whose writes and reads reach
different processes is covered by the lag bound alone (docs/scaling.md).
"""

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from api.core.errors import DATABASE_UNAVAILABLE
from api.core.metrics import Metrics
from api.core.replication import repository

log = structlog.get_logger(__name__)

# A poll waits this long for a connection or an answer before it counts the server as down.
POLL_TIMEOUT_SECONDS = 2.0


@dataclass
class Replica:
    """One standby, as the last poll found it."""

    name: str  # "replica-1", ...: the metrics label
    url: str  # without its password
    pool: asyncpg.Pool
    up: bool = False  # answered the last poll as a standby
    caught_up_at: float | None = None  # monotonic time it is known to have replayed up to
    lag_bytes: int | None = None
    error: str | None = None

    def lag_seconds(self, now: float) -> float | None:
        return None if self.caught_up_at is None else max(now - self.caught_up_at, 0.0)


class ReadReplicas:
    def __init__(
        self,
        primary: asyncpg.Pool,
        replicas: list[Replica],
        *,
        max_lag_seconds: float,
        poll_seconds: float,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replicas = replicas
        self.max_lag_seconds = max_lag_seconds
        self.poll_seconds = poll_seconds
        self.metrics = metrics
        self.clock = clock
        self._written: dict[UUID, float] = {}
        self._turn = itertools.count()

    def wrote(self, tenant_id: UUID) -> None:
        """The tenant's write has committed: its reads stay on the primary until a standby
        has caught up to now."""
        self._written[tenant_id] = self.clock()

    def choose(self, tenant_id: UUID | None) -> Replica | None:
        """A standby that may serve this tenant's read now, in turn; None: the primary."""
        now = self.clock()
        written = None if tenant_id is None else self._written.get(tenant_id)
        usable = [
            replica
            for replica in self.replicas
            if self._serving(replica, now) and self._holds(replica, written)
        ]
        if not usable:
            return None
        return usable[next(self._turn) % len(usable)]

    def _serving(self, replica: Replica, now: float) -> bool:
        """Up, and known to have caught up within the lag bound."""
        lag = replica.lag_seconds(now)
        return replica.up and lag is not None and lag <= self.max_lag_seconds

    @staticmethod
    def _holds(replica: Replica, written: float | None) -> bool:
        """Whether the standby has caught up past the tenant's last write (None: none known)."""
        if written is None:
            return True
        return replica.caught_up_at is not None and replica.caught_up_at > written

    def failed(self, replica: Replica, error: BaseException) -> None:
        """A read could not get a connection from `replica`: skip it until a poll finds it."""
        replica.up = False
        replica.error = type(error).__name__
        self.metrics.replica_up.labels(replica.name).set(0)
        log.warning("read_replica_failed", replica=replica.name, error=repr(error))

    async def poll(self) -> None:
        """Read the primary's position, then each standby's replay position."""
        started = self.clock()
        try:
            async with self.primary.acquire(timeout=POLL_TIMEOUT_SECONDS) as conn:
                position = await repository.primary_position(conn)
        except (*DATABASE_UNAVAILABLE, asyncpg.PostgresError, TimeoutError) as exc:
            # Connections to a primary that went away (failover) are reopened on their next
            # use: with a multi-host DATABASE_URL they then find the new primary.
            await self.primary.expire_connections()
            log.warning("read_replica_primary_unavailable", error=repr(exc))
            position = None
        for replica in self.replicas:
            await self._poll_standby(replica, position, started)
        self._forget_old_writes()
        self._export()

    async def _poll_standby(self, replica: Replica, position: int | None, started: float) -> None:
        try:
            async with replica.pool.acquire(timeout=POLL_TIMEOUT_SECONDS) as conn:
                standby = await asyncio.wait_for(
                    repository.standby_position(conn), POLL_TIMEOUT_SECONDS
                )
        except (*DATABASE_UNAVAILABLE, asyncpg.PostgresError, TimeoutError) as exc:
            if replica.up:
                log.warning("read_replica_down", replica=replica.name, error=repr(exc))
            replica.up, replica.error = False, type(exc).__name__
            await replica.pool.expire_connections()
            return
        if not standby.in_recovery or standby.replayed is None:
            if replica.up or replica.error != "promoted":
                log.warning("read_replica_promoted", replica=replica.name)
            replica.up, replica.error = False, "promoted"
            return
        if not replica.up:
            log.info("read_replica_up", replica=replica.name)
        replica.up, replica.error = True, None
        if position is not None:
            replica.lag_bytes = max(position - standby.replayed, 0)
            if standby.replayed >= position:
                replica.caught_up_at = started

    def _forget_old_writes(self) -> None:
        """A stamp older than every standby's catch-up no longer keeps anything on the primary."""
        caught_up = [r.caught_up_at for r in self.replicas if r.caught_up_at is not None]
        if not caught_up:
            return
        oldest = min(caught_up)
        for tenant_id, stamp in list(self._written.items()):
            if stamp < oldest:
                del self._written[tenant_id]

    def _export(self) -> None:
        now = self.clock()
        for replica in self.replicas:
            lag = replica.lag_seconds(now)
            self.metrics.replica_up.labels(replica.name).set(int(self._serving(replica, now)))
            self.metrics.replica_lag_seconds.labels(replica.name).set(
                float("nan") if lag is None else lag
            )
            self.metrics.replica_lag_bytes.labels(replica.name).set(
                float("nan") if replica.lag_bytes is None else replica.lag_bytes
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set."""
        while not stop.is_set():
            try:
                await self.poll()
            except Exception:  # a poll must never end the loop: log it and poll again
                log.exception("read_replica_poll_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_seconds)

    def report(self) -> list[dict[str, Any]]:
        """Each standby's state, for /readiness."""
        now = self.clock()
        rows = []
        for replica in self.replicas:
            lag = replica.lag_seconds(now)
            rows.append(
                {
                    # No URL: /readiness answers without a key, and host names are not for
                    # everyone; the start-up log names each replica's URL (password masked).
                    "name": replica.name,
                    "up": replica.up,
                    "serving": self._serving(replica, now),
                    "lag_seconds": None if lag is None else round(lag, 3),
                    "lag_bytes": replica.lag_bytes,
                    "error": replica.error,
                }
            )
        return rows
