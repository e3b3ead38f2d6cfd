"""Errors of the embeddings layer: building the embedders, checking a supplied vector."""

from api.core.errors import InvalidInput


class EmbeddingConfigError(ValueError):
    """The configured embedding model cannot be used; the message names the setting to change."""


class InvalidEmbedding(InvalidInput):
    error = "invalid_embedding"
