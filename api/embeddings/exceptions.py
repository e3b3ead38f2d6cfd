"""Errors raised while building the embedders."""


class EmbeddingConfigError(ValueError):
    """The configured embedding model cannot be used; the message names the setting to change."""
