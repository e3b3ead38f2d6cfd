"""`make run-replica`: the embedded server, a hot standby of it, and `make run` reading from it.

The standby lives under DATA_DIR/standby (cloned with pg_basebackup on first use, and again when
the embedded server's data was reset), streams the primary's WAL and serves the searches and
reads (api/core/replication); writes go to the embedded server. Both stop when this exits.
"""

import atexit
import os
import sys

from api.core import local_standby
from api.core.config import get_settings
from api.core.local_postgres import ensure_database, start_embedded_server, with_database
from api.core.migrations import upgrade
from scripts import serve


def main() -> None:
    settings = get_settings()
    if settings.database_url:
        sys.exit(
            "make run-replica makes a standby of the embedded server: unset DATABASE_URL. "
            "For servers of your own, set DATABASE_URL and READ_DATABASE_URL and `make run`."
        )
    primary_dir = settings.embedded_data_dir
    admin = start_embedded_server(primary_dir)
    url = ensure_database(admin, settings.database_name)
    upgrade(url)
    standby_dir = settings.data_dir / "standby"
    standby = local_standby.ensure_standby(primary_dir, admin, standby_dir)
    atexit.register(local_standby.stop, standby_dir)
    os.environ["DATABASE_URL"] = url
    os.environ["READ_DATABASE_URL"] = with_database(standby, settings.database_name)
    get_settings.cache_clear()
    serve.main()


if __name__ == "__main__":
    main()
