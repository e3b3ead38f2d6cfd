"""Build the text and code embedders from settings (blocking: call it from a thread)."""

from dataclasses import dataclass

import structlog

from api.core.config import DEFAULT_MODEL, Settings
from api.core.metrics import Metrics
from api.embeddings.exceptions import EmbeddingConfigError
from api.embeddings.mock import MockEncoder
from api.embeddings.profiles import resolve_profile
from api.embeddings.protocol import Encoder
from api.embeddings.service import EmbeddingService
from api.embeddings.transformer import SentenceTransformerEncoder

log = structlog.get_logger(__name__)

COALESCE_FACTOR = 8

__all__ = ["EmbeddingConfigError", "Embedders", "build_embedders"]


@dataclass
class Embedders:
    """The text and the code embedder; the same object when both use one model."""

    text: EmbeddingService
    code: EmbeddingService

    @property
    def shared(self) -> bool:
        return self.text is self.code

    async def start(self) -> None:
        await self.text.start()
        if not self.shared:
            await self.code.start()

    async def aclose(self) -> None:
        await self.text.aclose()
        if not self.shared:
            await self.code.aclose()


def build_embedders(
    settings: Settings, metrics: Metrics | None = None, *, encoder_override: Encoder | None = None
) -> Embedders:
    """Load the models (or the mock) and wrap them in services; checks every dimension.

    Loading a real model takes seconds, so the lifespan runs this in a thread. Raises
    `EmbeddingConfigError` naming the setting to change when a model cannot be used.
    """
    if encoder_override is not None:
        _check_dimension(encoder_override, settings, "EMBEDDING_MODEL")
        return _shared(encoder_override, settings, metrics)
    if settings.embedding_mode == "mock":
        return _shared(MockEncoder(settings.embedding_dimension), settings, metrics)

    text = _load(
        settings.embedding_model,
        settings,
        "EMBEDDING_MODEL",
        revision=settings.embedding_model_revision,
        code_revision=settings.embedding_model_code_revision,
    )
    if settings.code_embedding_model.strip() == settings.embedding_model.strip():
        # Same model for both: load it once (it is ~0.6 GB and ~9 s to load).
        return _shared(text, settings, metrics)
    code = _load(
        settings.code_embedding_model,
        settings,
        "CODE_EMBEDDING_MODEL",
        revision=settings.code_embedding_model_revision,
        code_revision=settings.code_embedding_model_code_revision,
    )
    return Embedders(text=_service(text, settings, metrics), code=_service(code, settings, metrics))


def _shared(encoder: Encoder, settings: Settings, metrics: Metrics | None) -> Embedders:
    service = _service(encoder, settings, metrics)
    return Embedders(text=service, code=service)


def _service(encoder: Encoder, settings: Settings, metrics: Metrics | None) -> EmbeddingService:
    return EmbeddingService(
        encoder,
        # Gather several forward passes' worth per model call: sentence-transformers sorts a
        # call's texts by length, so larger calls waste less on padding (the encoder still runs
        # EMBEDDING_BATCH_SIZE texts per forward pass).
        batch_size=settings.embedding_batch_size * COALESCE_FACTOR,
        max_wait_ms=settings.embedding_batch_wait_ms,
        cache_size=settings.embedding_cache_size,
        metrics=metrics,
    )


def _load(
    model_name: str,
    settings: Settings,
    setting: str,
    *,
    revision: str | None,
    code_revision: str | None,
) -> Encoder:
    profile = resolve_profile(model_name, settings.embedding_trust_remote_code)
    if profile.dimension is not None and profile.dimension != settings.embedding_dimension:
        # Known before spending seconds on the load.
        raise _mismatch(model_name, profile.dimension, settings, setting)
    try:
        encoder = SentenceTransformerEncoder.load(
            model_name,
            device=settings.embedding_device,
            trust_remote_code_setting=settings.embedding_trust_remote_code,
            batch_size=settings.embedding_batch_size,
            revision=revision,
            code_revision=code_revision,
            setting=setting,
        )
    except EmbeddingConfigError:
        raise  # already names the setting: remote code without a pinned commit
    except Exception as exc:
        # Whatever failed (no weights offline, remote code refused, bad device), the operator's
        # fix is a setting, so say which one and keep the original error chained.
        log.error("embedding_model_load_failed", model=model_name, setting=setting, error=repr(exc))
        raise EmbeddingConfigError(
            f"Could not load embedding model {model_name!r} ({setting}): {exc}. This machine "
            f"may be offline: use a model available locally (the default {DEFAULT_MODEL!r} is "
            f"packaged), or EMBEDDING_MODE=mock; set EMBEDDING_TRUST_REMOTE_CODE=true if the "
            f"model needs remote code, and check {setting}_REVISION / {setting}_CODE_REVISION "
            f"name commits of the model's repository and of the one its code comes from."
        ) from exc
    _check_dimension(encoder, settings, setting)
    return encoder


def _check_dimension(encoder: Encoder, settings: Settings, setting: str) -> None:
    if encoder.dimension != settings.embedding_dimension:
        raise _mismatch(encoder.model_name, encoder.dimension, settings, setting)


def _mismatch(model_name: str, dimension: int, settings: Settings, setting: str) -> Exception:
    return EmbeddingConfigError(
        f"Embedding model {model_name!r} ({setting}) produces {dimension}-d vectors but "
        f"EMBEDDING_DIMENSION is {settings.embedding_dimension}: set EMBEDDING_DIMENSION="
        f"{dimension} (and migrate the database to that size) or change {setting} to a "
        f"{settings.embedding_dimension}-d model."
    )
