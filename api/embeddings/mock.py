"""Deterministic bag-of-words embeddings for tests and `EMBEDDING_MODE=mock`.

Each lowercase word maps to a fixed pseudo-random unit vector seeded from blake2b of the word
(not the built-in `hash()`, which is salted per process), and a text is the normalised sum of its
words. Texts that share words are therefore closer than texts that share none, which is enough
for search tests to mean something, at a few microseconds per text.
"""

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from api.embeddings.protocol import Matrix, TextKind, Vector

_TOKEN = re.compile(r"\w+")
# "" can never be a token of the regex above, so its vector is free to stand for "no words".
_EMPTY_SEED = ""


@lru_cache(maxsize=65_536)
def _token_vector(token: str, dimension: int) -> Vector:
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=16).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "big"))
    vector = rng.standard_normal(dimension).astype(np.float32)
    vector /= np.linalg.norm(vector)
    # The cache hands the same array to every caller: make accidental in-place edits fail loudly.
    vector.flags.writeable = False
    return vector


class MockEncoder:
    """An `Encoder` with no model: same text, same vector, in every process."""

    def __init__(self, dimension: int, model_name: str = "mock") -> None:
        if dimension <= 0:
            raise ValueError(f"dimension must be positive, got {dimension}")
        self._dimension = dimension
        self._model_name = model_name

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str], *, kind: TextKind) -> Matrix:
        # `kind` is deliberately ignored: a query and a document with the same words should match.
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._embed(text)
        return out

    def _embed(self, text: str) -> Vector:
        counts = Counter(_TOKEN.findall(text.lower()))
        if not counts:
            return _token_vector(_EMPTY_SEED, self._dimension)
        vectors = np.stack([_token_vector(token, self._dimension) for token in counts])
        weights = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        total = weights @ vectors
        norm = float(np.linalg.norm(total))
        if norm < 1e-12:  # only if word vectors cancel out exactly; stay normalised regardless
            return _token_vector(_EMPTY_SEED, self._dimension)
        return (total / norm).astype(np.float32)
