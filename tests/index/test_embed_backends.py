"""Query backends: ONNX fp32 vectors are PyTorch's, int8 ones agree to cosine ≥ 0.99 (real model)."""

from __future__ import annotations

import numpy as np
import pytest

from index.embed import SentenceTransformerEmbedder
from index.errors import ConfigError
from tests.conftest import CORPUS

pytestmark = pytest.mark.slow

TEXTS = [
    line.strip()
    for line in (CORPUS / "002_88d20b9e249d40e3.txt").read_text(encoding="utf-8").splitlines()
    if len(line.strip()) > 10
][:40]


@pytest.fixture(scope="module")
def torch_embedder(base_settings):
    return SentenceTransformerEmbedder(base_settings.replace(query_backend="torch"))


def test_the_default_backend_is_onnx_and_gives_pytorch_query_vectors(embedder, torch_embedder):
    assert embedder.query_backend == "onnx" and torch_embedder.query_backend == "torch"
    onnx = np.stack([embedder.embed_query(t) for t in TEXTS])
    fp32 = np.stack([torch_embedder.embed_query(t) for t in TEXTS])
    assert (onnx * fp32).sum(axis=1).min() >= 0.9999


def test_onnx_passage_batches_match_pytorch(embedder, torch_embedder):
    onnx = embedder.embed_documents(TEXTS)
    fp32 = torch_embedder.embed_documents(TEXTS)
    assert onnx.shape == (len(TEXTS), embedder.dim)
    assert (onnx * fp32).sum(axis=1).min() >= 0.9999


def test_int8_query_vectors_agree_to_0_99(base_settings, torch_embedder):
    int8 = SentenceTransformerEmbedder(base_settings.replace(query_backend="onnx-int8"))
    assert int8.query_backend == "onnx-int8"
    cosines = [float(int8.embed_query(t) @ torch_embedder.embed_query(t)) for t in TEXTS]
    assert min(cosines) >= 0.99


def test_an_unknown_backend_is_refused_with_the_choices(base_settings):
    with pytest.raises(ConfigError, match="query_backend must be one of"):
        SentenceTransformerEmbedder(base_settings.replace(query_backend="openvino"))
