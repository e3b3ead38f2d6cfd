"""Caller-supplied vectors: the request field every API shares and the check before storing or
searching with one."""

from collections.abc import Sequence
from typing import Annotated

import numpy as np
from pydantic import Field

from api.embeddings.exceptions import InvalidEmbedding
from api.embeddings.protocol import Vector

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
EmbeddingInput = Annotated[list[FiniteFloat], Field(min_length=1, max_length=16_000)]


def checked_vector(values: Sequence[float], dimension: int, *, label: str = "embedding") -> Vector:
    """A caller-supplied vector as float32, or InvalidEmbedding saying what is wrong."""
    if len(values) != dimension:
        raise InvalidEmbedding(
            f"{label} has {len(values)} dimensions; this service stores {dimension}-dimensional "
            "vectors (EMBEDDING_DIMENSION)."
        )
    with np.errstate(over="ignore"):  # overflow to inf is reported just below
        vector = np.asarray(values, dtype=np.float32)
    if not np.isfinite(vector).all():
        raise InvalidEmbedding(f"{label} contains a value too large for float32.")
    if not np.any(vector):
        raise InvalidEmbedding(f"{label} is all zeros; cosine distance is undefined for it.")
    return vector
