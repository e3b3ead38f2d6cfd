"""What the rest of the service knows about embeddings.

An `Encoder` is the synchronous model (sentence-transformers, or the deterministic mock): it is
only ever called from a worker thread. An `Embedder` is the asynchronous face the services use:
it coalesces concurrent requests into micro-batches, runs the encoder off the event loop and
caches query embeddings.
"""

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

TextKind = Literal["query", "document"]
Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]


class Encoder(Protocol):
    """A synchronous embedding model. Rows of the result are L2-normalised float32."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str], *, kind: TextKind) -> Matrix:
        """Return an array of shape (len(texts), dimension)."""
        ...


class Embedder(Protocol):
    """The asynchronous embedding service handed to request handlers."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    async def embed_documents(self, texts: Sequence[str]) -> Matrix:
        """Embed texts to be stored (batched with concurrent callers)."""
        ...

    async def embed_query(self, text: str) -> Vector:
        """Embed a search query (served from a bounded LRU cache when seen before)."""
        ...
