"""What each known embedding model expects: prefixes, remote code, output dimension."""

from dataclasses import dataclass, replace

from api.embeddings.protocol import TextKind

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
NOMIC_TEXT = "nomic-ai/nomic-embed-text-v1.5"
JINA_CODE = "jinaai/jina-embeddings-v2-base-code"


@dataclass(frozen=True)
class ModelProfile:
    name: str
    query_prefix: str = ""
    document_prefix: str = ""
    trust_remote_code: bool = False
    dimension: int | None = None

    def prefix(self, kind: TextKind) -> str:
        return self.query_prefix if kind == "query" else self.document_prefix


KNOWN_PROFILES: dict[str, ModelProfile] = {
    profile.name: profile
    for profile in (
        # nomic was trained with task prefixes; without them retrieval quality drops noticeably.
        ModelProfile(
            name=NOMIC_TEXT,
            query_prefix="search_query: ",
            document_prefix="search_document: ",
            trust_remote_code=True,
            dimension=768,
        ),
        ModelProfile(name=JINA_CODE, trust_remote_code=True, dimension=768),
        ModelProfile(name=MINILM, trust_remote_code=False, dimension=384),
    )
}


def resolve_profile(model_name: str, trust_remote_code_setting: bool | None = None) -> ModelProfile:
    """The profile for `model_name`; an explicit trust_remote_code setting wins over the default.

    Unknown models get no prefixes and do not run remote code unless the setting asks for it.
    """
    profile = KNOWN_PROFILES.get(model_name.strip(), ModelProfile(name=model_name.strip()))
    if trust_remote_code_setting is not None:
        profile = replace(profile, trust_remote_code=trust_remote_code_setting)
    return profile
