"""The Milvus store against the local one: the same index, the same answers to every question the
store interface is asked, and clear errors. Milvus is a milvus-lite server on 127.0.0.1 reached over
http:// (tests/conftest.py), as a cluster would be."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from bench.scans import image_pdf, report_pages
from index.build import build_index
from index.errors import ConfigError, IndexMismatchError, StoreUnavailableError
from index.milvus_client import WRITE_TIMEOUT_S, Connection
from index.milvus_server import free_port
from index.milvus_store import MilvusStore, bm25_magnitudes
from index.settings import Settings
from index.stores import open_store
from index.tokens import tokenize
from qa.pipeline import QAPipeline
from tests.conftest import CACHE, CORPUS, REPO, empty_config, milvus_settings, store_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stores(built_index, milvus_index):
    """The real corpus in both stores: (local, milvus)."""
    return open_store(built_index), open_store(milvus_index)


def test_both_stores_hold_the_same_documents_spans_and_vectors(stores):
    local, milvus = stores
    assert {k: v for k, v in vars(local.manifest).items() if k != "built_at"} == {
        k: v for k, v in vars(milvus.manifest).items() if k != "built_at"
    }
    assert milvus.heads() == local.heads() and milvus.chunk_counts() == local.chunk_counts()
    assert all(milvus.document(h.doc_id) == local.document(h.doc_id) for h in local.heads())
    chunk_ids = list(range(local.manifest.chunk_count))
    chunks = local.chunks(chunk_ids)
    assert milvus.chunks(chunk_ids) == chunks
    assert np.array_equal(milvus.chunk_vectors(chunk_ids[::5]), local.chunk_vectors(chunk_ids[::5]))
    milvus.prefetch(chunk_ids, ())
    sentences = []
    for chunk in chunks:
        sentences.extend(found := local.sentences_in(chunk))
        assert milvus.sentences_in(chunk) == found
    sentence_ids = [s.sentence_id for s in sentences]
    assert np.array_equal(milvus.sentence_vectors(sentence_ids), local.sentence_vectors(sentence_ids))
    assert all(milvus.chunks_holding(s) == local.chunks_holding(s) for s in sentences)
    assert all(milvus.sentences_after(s, 200) == local.sentences_after(s, 200) for s in sentences[::25])
    with pytest.raises(KeyError):
        milvus.document("no-such.txt")


def test_pages_and_ocr_marks_are_stored_and_returned_as_the_local_store_does(
    base_settings, embedder, milvus_uri, tmp_path
):
    """A scanned three-page PDF (drawn by bench.scans, read by the real OCR) beside a text file:
    the Milvus store returns its page offsets, OCR pages and every span's page, and an answer
    from it cites the page, as the local store's does."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "000_ac731e8362aff455.txt", corpus)
    scan = "青松县工作报告.pdf"
    (corpus / scan).write_bytes(image_pdf(report_pages()))
    local_settings = base_settings.replace(corpus_dir=corpus, index_dir=tmp_path / "local")
    settings = milvus_settings(local_settings.replace(index_dir=tmp_path / "milvus"), milvus_uri, "pages")
    for each in (local_settings, settings):
        assert not build_index(each, embedder=embedder, progress=lambda *_: None).skipped
    local, milvus = open_store(local_settings), open_store(settings)
    document = milvus.document(scan)
    assert document == local.document(scan)
    assert len(document.page_starts) == 3 and document.ocr_pages == (1, 2, 3)
    chunk_ids = list(range(local.manifest.chunk_count))
    chunks = milvus.chunks(chunk_ids)
    assert chunks == local.chunks(chunk_ids)  # pages included
    assert all(c.page == document.page_at(c.start) for c in chunks if c.doc_id == scan)
    assert {c.page for c in chunks if c.doc_id != scan} == {None}
    scan_pages = set()
    for chunk in chunks:
        sentences = milvus.sentences_in(chunk)
        assert sentences == local.sentences_in(chunk)
        scan_pages |= {s.page for s in sentences if s.doc_id == scan}
    assert scan_pages == {1, 2, 3}
    answer = QAPipeline(settings, embedder=embedder).ask("青松县易地扶贫搬迁集中安置点共安置了多少户搬迁群众？")
    holding = [c for c in answer.citations if "2315户" in c.text]
    assert holding and all((c.doc_id, c.page, c.ocr) == (scan, 3, True) for c in holding), answer


def test_term_weights_are_the_local_stores_for_every_token(stores):
    local, milvus = stores
    chunks = local.chunks(range(local.manifest.chunk_count))
    tokens = sorted({t for c in chunks for t in tokenize(c.text, local.tokenizer)})
    tokens += ["念书", "湖北省"]  # in no chunk
    milvus.prefetch((), tokens)  # one query for all; the rest are answered from what it fetched
    assert [milvus.term_weight(t) for t in tokens] == pytest.approx([local.term_weight(t) for t in tokens], abs=1e-12)
    assert milvus.term_weight("念书") == 0


def test_searches_return_what_the_local_store_does(stores):
    local, milvus = stores
    rng = np.random.default_rng(5)
    for sentence_id in rng.choice(local.manifest.sentence_count, size=10, replace=False):
        query = local.sentence_vectors([int(sentence_id)])[0]
        ids, scores = milvus.search_chunks(query, 50)
        expected_ids, expected_scores = local.search_chunks(query, 50)
        assert_same_ranking(ids, scores, expected_ids, expected_scores)
        ids, scores, ranges = milvus.search_sentences(query, 200)
        expected_ids, expected_scores, expected_ranges = local.search_sentences(query, 200)
        assert_same_ranking(ids, scores, expected_ids, expected_scores)
        ranges_of = dict(zip(expected_ids.tolist(), expected_ranges.tolist()))
        assert all(ranges_of.get(i, r) == r for i, r in zip(ids.tolist(), ranges.tolist()))
    for text in ["扶贫日 每年", "中央财政专项扶贫资金 增加", "西藏 贫困发生率 2015年底", "驻村工作队"]:
        ids, scores = milvus.search_lexical(text, 50)
        expected_ids, expected_scores = local.search_lexical(text, 50)
        # Milvus' BM25 over the same tokens: the same ranking (equal scores in any order), scores in a
        # fixed proportion, so a passage's score over the best one's (passage_lexical) is the same.
        assert_same_ranking(ids, scores / scores[0], expected_ids, expected_scores / expected_scores[0], 1e-4)
    assert milvus.search_lexical("？？ ，", 10)[0].size == 0


def assert_same_ranking(ids, scores, expected_ids, expected_scores, tolerance=1e-5):
    """The same score at every rank, and the same ids above the last rank's score: equal scores
    (a passage repeated in two documents) may come in either order, as may those tied at the cut."""
    assert np.allclose(scores, expected_scores, atol=tolerance)
    cut = expected_scores[-1] + tolerance
    assert {i for i, s in zip(ids.tolist(), scores) if s > cut} == {
        i for i, s in zip(expected_ids.tolist(), expected_scores) if s > cut
    }


def test_bm25_scores_are_magnitudes_best_first_whatever_their_sign():
    ids, scores = bm25_magnitudes(np.array([4, 9, 2]), np.array([-3.5, -1.75, 0.0], dtype=np.float32))
    assert ids.tolist() == [4, 9] and scores.tolist() == [3.5, 1.75]
    ids, scores = bm25_magnitudes(np.array([1, 2]), np.array([8.0, 2.0], dtype=np.float32))
    assert ids.tolist() == [1, 2] and scores.tolist() == [8.0, 2.0]


def test_an_index_built_with_another_model_is_refused(milvus_index):
    with pytest.raises(IndexMismatchError, match="policyqa index"):
        open_store(milvus_index.replace(embedding_model="another/model"))


def test_a_server_that_does_not_answer_is_a_clear_error_not_a_hang(tmp_path):
    settings = Settings(index_dir=tmp_path, store="milvus", milvus_uri=f"http://127.0.0.1:{free_port()}")
    settings = settings.replace(milvus_timeout_s=2.0)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=r"无法使用 Milvus.*POLICYQA_MILVUS_URI") as caught:
        open_store(settings)
    assert time.monotonic() - started < 30
    assert "cannot be used" in str(caught.value)


def test_a_grpc_failure_is_told_in_one_line_and_builds_wait_longer_than_questions(milvus_uri):
    import grpc

    class DeadlineExceeded(grpc.RpcError):
        """What pymilvus raises when a call runs out of time (grpc's _InactiveRpcError, same interface)."""

        def code(self):
            return grpc.StatusCode.DEADLINE_EXCEEDED

        def details(self):
            return "Stream removed (Deadline Exceeded)"

        def __str__(self):
            return "<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.DEADLINE_EXCEEDED\n>"

    settings = Settings(store="milvus", milvus_uri=milvus_uri, milvus_timeout_s=3.0)
    message = str(Connection(settings).unavailable(DeadlineExceeded()))
    assert "DEADLINE_EXCEEDED: Stream removed (Deadline Exceeded)" in message
    assert "\n" not in message and "_InactiveRpcError" not in message
    assert Connection(settings).timeout == 3
    assert Connection(settings, writing=True).timeout == WRITE_TIMEOUT_S


def test_the_cli_says_so_when_milvus_is_down(tmp_path):
    env = dict(
        os.environ,
        POLICYQA_CONFIG=empty_config(tmp_path),
        POLICYQA_STORE="milvus",
        POLICYQA_MILVUS_URI=f"http://127.0.0.1:{free_port()}",
        POLICYQA_MILVUS_TIMEOUT_S="2",
        POLICYQA_INDEX_DIR=str(tmp_path / "index"),
    )
    for command in (["ask", "扶贫日是哪一天？"], ["index"]):
        result = subprocess.run(
            [sys.executable, "-m", "ui.cli", *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 1
        assert "无法使用 Milvus" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("milvus_consistency", "Always", "milvus_consistency"),
        ("milvus_prefix", "1-bad", "milvus_prefix"),
        ("milvus_analyzer", "icu", "milvus_analyzer"),
        ("milvus_uri", "/tmp/not-a-db-file", r"\.db"),
        ("store", "elastic", "store"),
    ],
)
def test_unusable_milvus_settings_are_refused_with_their_name(milvus_uri, tmp_path, setting, value, message):
    settings = milvus_settings(Settings(index_dir=tmp_path), milvus_uri, "checks").replace(**{setting: value})
    with pytest.raises(ConfigError, match=message):
        open_store(settings) if setting == "store" else Connection(settings)


def test_a_rebuild_drops_what_killed_builds_left_and_keeps_the_previous_generation(milvus_uri, embedder, tmp_path):
    base = Settings(corpus_dir=REPO / "corpus", index_dir=tmp_path, cache_dir=CACHE)
    # Two shards and two replicas: what a cluster spreads, milvus-lite takes and ignores.
    settings = milvus_settings(base, milvus_uri, "gens").replace(milvus_shards=2, milvus_replicas=2)
    build_index(settings, embedder=embedder, progress=lambda *_: None, force=True)
    connection = Connection(settings)
    first = connection.read_live()["generation"]
    # What a build killed after creating its collections leaves behind.
    leftover = "g19990101000000dead00001"
    connection.client.create_collection(connection.name(leftover, "chunks"), dimension=4)
    assert connection.generations() == {first, leftover}
    build_index(settings, embedder=embedder, progress=lambda *_: None, force=True)
    second = connection.read_live()
    assert connection.generations() == {first, second["generation"]} and second["previous"] == first
    store = MilvusStore.open(settings)
    assert store.search_chunks(store.chunk_vectors([0])[0], 1)[0].tolist() == [0]


def test_a_scanned_documents_pages_come_back_as_the_local_store_has_them(milvus_uri, tmp_path):
    """Page starts and OCR-read pages spread over several stored text pages, and each span's page."""
    from index.build import manifest_for
    from index.chunk import chunk_document, make_splitter, split_sentences
    from index.milvus_client import PAGE_CHARS
    from index.milvus_writer import MilvusWriter
    from index.stores import IndexContents
    from index.types import Document

    pages = [f"第{number}页。" + "易地扶贫搬迁工作稳步推进，群众住上了新房。" * 90 for number in range(1, 31)]
    starts = tuple(int(x) for x in np.cumsum([0] + [len(page) for page in pages[:-1]]))
    doc = Document("scans/report.pdf", "扫描件", "2020-01-01", None, "".join(pages), "f" * 64, starts, (2, 5, 30))
    assert len(doc.text) > 3 * PAGE_CHARS
    settings = milvus_settings(Settings(index_dir=tmp_path), milvus_uri, "pages")
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    chunks, sentences = chunk_document(doc, splitter), split_sentences(doc)
    rng = np.random.default_rng(0)
    vectors = [rng.normal(size=(n, 4)).astype(np.float32) for n in (len(chunks), len(sentences))]
    vectors = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in vectors]
    manifest = manifest_for(settings, 4, {doc.doc_id: doc.content_hash}, len(chunks), len(sentences))
    contents = IndexContents(manifest, [doc], chunks, sentences, vectors[0], vectors[1])
    MilvusWriter(settings).write(contents, None, lambda *_: None)

    store = MilvusStore.open(settings)
    assert store.document(doc.doc_id) == doc
    assert store.document(doc.doc_id).is_ocr(30) and not store.document(doc.doc_id).is_ocr(3)
    found = store.chunks(range(len(chunks)))
    assert [c.page for c in found] == [c.page for c in chunks] and found[-1].page == 30
    last = chunks[-1]
    held = [s for s in sentences if s.end > last.start and s.start < last.end]
    assert [(s.sentence_id, s.page) for s in store.sentences_in(last)] == [(s.sentence_id, s.page) for s in held]


def test_the_embedded_engine_needs_no_server(embedder, tmp_path):
    """``milvus_uri`` left empty: a milvus-lite file in the index folder, started by pymilvus itself."""
    settings = Settings(corpus_dir=REPO / "corpus", index_dir=tmp_path / "index", cache_dir=CACHE, store="milvus")
    report = build_index(settings, embedder=embedder, progress=lambda *_: None)
    assert report.chunks > 0 and (tmp_path / "index" / "milvus.db").exists()
    answer = QAPipeline(settings, embedder=embedder).ask("扶贫日是每年的哪一天？")
    assert answer.answered and "10月17日" in answer.text


def test_qa_imports_no_search_engine():
    """qa/ knows the store interface only: neither its source nor its import pulls in an engine."""
    engines = {"faiss", "bm25s", "pymilvus", "milvus_lite"}
    for path in sorted((REPO / "qa").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not {n.split(".")[0] for n in names} & engines, f"{path.name} imports {names}"
    modules = ", ".join(f"qa.{p.stem}" for p in sorted((REPO / "qa").glob("*.py")) if p.stem != "__init__")
    probe = f"import sys, {modules}; print(sorted(m for m in {sorted(engines)!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_milvus_index_is_used_by_the_cli_like_the_local_one(milvus_index):
    result = subprocess.run(
        [sys.executable, "-m", "ui.cli", "index"],
        cwd=REPO,
        env=store_env(milvus_index),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_the_api_answers_503_in_chinese_when_milvus_goes_down(embedder, tmp_path):
    from fastapi.testclient import TestClient

    from index.library import Library
    from index.milvus_server import LiteServer
    from qa.pipeline import QAPipeline
    from ui.api import create_api

    with LiteServer(tmp_path / "down.db") as server:
        base = Settings(corpus_dir=REPO / "corpus", index_dir=tmp_path / "index", cache_dir=CACHE)
        settings = milvus_settings(base, server.uri, "down").replace(milvus_timeout_s=2.0)
        build_index(settings, embedder=embedder, progress=lambda *_: None)
        pipeline = QAPipeline(settings, embedder=embedder)
        client = TestClient(create_api(settings, pipeline, Library(settings, embedder=embedder)))
        assert client.post("/api/ask", json={"question": "扶贫日是每年的哪一天？"}).status_code == 200
    started = time.monotonic()
    response = client.post("/api/ask", json={"question": "扶贫日是每年的哪一天？"})
    assert response.status_code == 503 and response.json()["error"].startswith("无法使用 Milvus")
    assert time.monotonic() - started < 60
    response = client.post(
        "/v1/chat/completions",
        json={"model": "policyqa", "messages": [{"role": "user", "content": "扶贫日是哪一天？"}]},
    )
    assert response.status_code == 503 and "无法使用 Milvus" in response.json()["error"]["message"]


def test_policyqa_serve_answers_from_milvus(milvus_index, tmp_path):
    """The web app and API as a user runs them, over the index in the test server's Milvus."""
    import httpx

    port = free_port()
    env = store_env(milvus_index, POLICYQA_CONFIG=empty_config(tmp_path), POLICYQA_PORT=str(port))
    env["POLICYQA_INDEX_DIR"] = str(tmp_path / "index")  # feedback and the build lock; the index is in Milvus
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve"], cwd=REPO, env=env, stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "serve.log").read_text(encoding="utf-8")[-2000:]
            try:
                health = httpx.get(f"{url}/api/health", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(1)
        assert health.status_code == 200 and health.json()["documents"] == 5
        reply = httpx.post(f"{url}/api/ask", json={"question": "扶贫日是每年的哪一天？"}, timeout=60).json()
        assert reply["answered"] and "10月17日" in reply["answer"] and reply["citations"]
    finally:
        server.terminate()
        server.wait(timeout=30)
