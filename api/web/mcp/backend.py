"""What the tools work with: the database, the embedders and the settings of the running service.

The service's Backend holds a Database without a tenant (it sees no tenant's rows); each call
works on `for_principal(...)`, the Database of the caller's tenant (see server.py).
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from api.core.config import Settings
from api.core.database import Database
from api.core.metrics import Metrics
from api.core.tenancy.schemas import Principal
from api.core.vectors.schemas import SearchTuning
from api.embeddings.factory import Embedders


class BackendUnavailable(RuntimeError):
    """A tool was called before the service started (or after it stopped)."""


@dataclass(frozen=True)
class Backend:
    database: Database
    embedders: Embedders
    settings: Settings
    metrics: Metrics
    tuning: SearchTuning

    def for_principal(self, principal: Principal) -> "Backend":
        """The same collaborators, with the database set to the principal's tenant."""
        return dataclasses.replace(self, database=self.database.for_tenant(principal.tenant_id))


# Read at call time: the pool and the models exist only once the lifespan (HTTP) or the stdio
# entry point has created them, after the server and its tools were built.
BackendGetter = Callable[[], Backend]
