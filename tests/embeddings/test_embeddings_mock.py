"""The mock encoder: deterministic, normalised, and meaningful enough for search tests."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from api.embeddings.mock import MockEncoder

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ["the cat sat on the mat", "", "Émile's café, 42 times!", "x"]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_shape_dtype_and_unit_norm() -> None:
    encoder = MockEncoder(32)
    out = encoder.encode(SAMPLES, kind="document")
    assert out.shape == (len(SAMPLES), 32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    assert encoder.model_name == "mock"
    assert encoder.dimension == 32


def test_same_text_same_vector_across_instances_and_kinds() -> None:
    first = MockEncoder(64).encode(SAMPLES, kind="query")
    second = MockEncoder(64).encode(SAMPLES, kind="document")
    np.testing.assert_array_equal(first, second)


def test_case_and_punctuation_do_not_matter() -> None:
    a, b = MockEncoder(64).encode(["Hello, World!", "hello world"], kind="query")
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_shared_words_are_closer_than_no_shared_words() -> None:
    base, related, unrelated = MockEncoder(384).encode(
        [
            "the billing migration was postponed",
            "billing migration decision",
            "kubernetes pod crashed with oom",
        ],
        kind="document",
    )
    assert _cosine(base, related) > _cosine(base, unrelated) + 0.3


def test_empty_and_wordless_texts_share_one_fixed_vector() -> None:
    encoder = MockEncoder(16)
    empty, spaces, symbols = encoder.encode(["", "   ", "?!-"], kind="query")
    np.testing.assert_array_equal(empty, spaces)
    np.testing.assert_array_equal(empty, symbols)
    assert np.linalg.norm(empty) == pytest.approx(1.0, rel=1e-5)


def test_empty_batch() -> None:
    assert MockEncoder(8).encode([], kind="document").shape == (0, 8)


def test_rejects_bad_dimension() -> None:
    with pytest.raises(ValueError, match="dimension"):
        MockEncoder(0)


def test_deterministic_across_processes_with_different_hash_seeds() -> None:
    script = (
        "import json, sys\n"
        "from api.embeddings.mock import MockEncoder\n"
        "texts = json.loads(sys.argv[1])\n"
        "print(json.dumps(MockEncoder(24).encode(texts, kind='document').tolist()))\n"
    )
    outputs = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", script, json.dumps(SAMPLES)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(np.array(json.loads(result.stdout), dtype=np.float32))
    here = MockEncoder(24).encode(SAMPLES, kind="document")
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], here)
