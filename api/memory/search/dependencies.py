"""Dependencies of the search domain."""

from typing import Annotated

from fastapi import Depends

from api.core.config import Settings
from api.core.dependencies import get_app_settings
from api.memory.search.service import SearchTuning


async def get_search_tuning(
    settings: Annotated[Settings, Depends(get_app_settings)],
) -> SearchTuning:
    return SearchTuning(
        ef_search=settings.hnsw_ef_search,
        exact_max_rows=settings.search_exact_max_rows,
        candidate_pool=settings.search_candidate_pool,
        rrf_k=settings.search_rrf_k,
    )


TuningDep = Annotated[SearchTuning, Depends(get_search_tuning)]
