"""Query backends: ONNX fp32 vectors are PyTorch's, int8 ones agree to cosine ≥ 0.99 (real model);
passages run several batches at once with the same vectors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from index.embed import QUEUED_PER_WORKER, SentenceTransformerEmbedder, run_in_workers
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


def test_passages_on_two_workers_are_the_vectors_of_one_batch_at_a_time(base_settings, embedder):
    assert embedder.settings.threads == 2
    workers = np.zeros((len(TEXTS), embedder.dim), dtype=np.float32)
    seen = []
    for positions, vectors in embedder.embed_batches(TEXTS):
        workers[positions] = vectors
        seen.extend(positions)
    assert sorted(seen) == list(range(len(TEXTS)))
    # A second session of one thread, sharing the query session's tokenizer.
    assert embedder._passages is not None and embedder._passages.threads == 1
    assert embedder._passages.tokenizer is embedder._query_encoder.tokenizer
    single = SentenceTransformerEmbedder(base_settings.replace(threads=1))
    one = single.embed_documents(TEXTS)
    assert single._passages is None  # one thread: the query session runs passages too
    assert np.abs(workers - one).max() < 1e-5
    # A build's embedder has a single session, of one thread, that runs two batches at once.
    build = SentenceTransformerEmbedder(base_settings, passages_only=True)
    assert np.abs(build.embed_documents(TEXTS) - one).max() < 1e-5
    assert build._query_encoder.threads == 1 and build._passages is None


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_workers_give_every_batch_in_order_with_a_few_running_at_once(workers):
    batches = [[i] for i in range(20)]
    running, most = [0], [0]
    lock = threading.Lock()

    def run(batch: list[int]) -> np.ndarray:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return np.full((1, 2), batch[0], dtype=np.float32)

    results = list(run_in_workers(batches, run, workers))
    assert [positions for positions, _ in results] == batches
    assert [float(vectors[0, 0]) for _, vectors in results] == list(range(20))
    assert most[0] == workers  # never more than asked, and as many once batches queue up


def test_workers_run_a_bounded_number_of_batches_ahead_of_the_consumer():
    started = []
    stream = run_in_workers([[i] for i in range(50)], lambda b: started.append(b[0]) or np.zeros((1, 2)), 2)
    next(stream)
    time.sleep(0.05)
    assert len(started) <= 2 * (1 + QUEUED_PER_WORKER) + 1
    stream.close()
