"""`make run-cluster`: `make run` on a local Citus cluster, a coordinator and two workers.

The nodes live under DATA_DIR/cluster (initdb on first use), with Citus preloaded (`make citus`
builds it into the embedded server). The database exists on every node and the coordinator
knows the workers; the migrations distribute the schema by tenant (migration 0014). The service
connects to the coordinator. Every node stops when this exits.
"""

import atexit
import os
import sys

from api.core import local_cluster
from api.core.config import get_settings
from api.core.migrations import upgrade
from scripts import serve


def main() -> None:
    settings = get_settings()
    if settings.database_url:
        sys.exit("make run-cluster starts a cluster of its own: unset DATABASE_URL.")
    if not local_cluster.library_installed():
        sys.exit("Citus is not built into the embedded server: run `make citus` first.")
    cluster = local_cluster.layout(settings.data_dir / "cluster")
    local_cluster.start(cluster)
    atexit.register(local_cluster.stop, cluster)
    url = local_cluster.ensure_database(cluster, settings.database_name)
    upgrade(url)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    serve.main()


if __name__ == "__main__":
    main()
