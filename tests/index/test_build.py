"""Building the index: incremental, atomic, locked, and checked on load (real model, real FAISS)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from index.build import build_index, build_lock
from index.errors import IndexLockedError, IndexMismatchError, IndexMissingError
from index.store import current_build, load_index
from tests.conftest import REPO

pytestmark = pytest.mark.slow

QUIET = lambda *_: None  # noqa: E731 - progress callback that prints nothing


def test_index_holds_every_document_chunk_and_sentence(built_index):
    data = load_index(built_index.index_dir, model_id=built_index.embedding_model)
    assert [d.doc_id for d in data.documents] == sorted(p.name for p in built_index.corpus_dir.iterdir())
    assert data.dense.ntotal == len(data.chunks) == data.manifest.chunk_count
    assert data.sentence_vectors.shape == (len(data.sentences), data.manifest.dim)
    for chunk in data.chunks:
        assert data.document(chunk.doc_id).text[chunk.start : chunk.end] == chunk.text
    norms = np.linalg.norm(data.sentence_vectors, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-3)


def test_dense_search_matches_brute_force(built_index, embedder):
    data = load_index(built_index.index_dir)
    query = embedder.embed_query("中央财政专项扶贫资金投入")
    vectors = np.vstack([data.dense.reconstruct(i) for i in range(data.dense.ntotal)])
    expected = np.argsort(-(vectors @ query))[:10]
    _, ids = data.dense.search(query.reshape(1, -1), 10)
    assert ids[0].tolist() == expected.tolist()


def test_incremental_build_touches_only_the_changed_document(base_settings, embedder, corpus_copy, tmp_path):
    settings = base_settings.replace(corpus_dir=corpus_copy, index_dir=tmp_path / "index")
    first = build_index(settings, embedder=embedder, progress=QUIET)
    assert first.documents == 5 and not first.up_to_date

    again = build_index(settings, embedder=embedder, progress=QUIET)
    assert again.up_to_date and again.embedded == 0

    changed = corpus_copy / "002_88d20b9e249d40e3.txt"
    # New text each run: the embedding cache is shared between test runs.
    novel = f"新增一句测试用的政策说明，编号{uuid.uuid4().hex}。"
    changed.write_text(changed.read_text(encoding="utf-8") + f"\n{novel}\n", encoding="utf-8")
    (corpus_copy / "003_3021266cc6ae144a.txt").unlink()
    (corpus_copy / "new.md").write_text(f"# 新文件\n\n{novel}\n", encoding="utf-8")
    update = build_index(settings, embedder=embedder, progress=QUIET)
    assert update.changed == ("002_88d20b9e249d40e3.txt",)
    assert update.removed == ("003_3021266cc6ae144a.txt",)
    assert update.added == ("new.md",)
    data = load_index(settings.index_dir)
    touched = {"002_88d20b9e249d40e3.txt", "new.md"}
    # Only text of the changed and the added document can be new to the cache.
    assert (
        1
        <= update.embedded
        <= sum(1 for c in data.chunks if c.doc_id in touched) + sum(1 for s in data.sentences if s.doc_id in touched)
    )
    assert next(d for d in data.documents if d.doc_id == "new.md").title == "新文件"
    assert "003_3021266cc6ae144a.txt" not in {d.doc_id for d in data.documents}


def test_second_build_with_nothing_changed_is_a_no_op(built_index):
    before = current_build(built_index.index_dir)
    report = build_index(built_index, progress=QUIET)
    assert report.up_to_date and report.embedded == 0
    assert current_build(built_index.index_dir) == before


def test_concurrent_build_is_refused_with_a_clear_message(base_settings, tmp_path):
    settings = base_settings.replace(index_dir=tmp_path / "index")
    with build_lock(settings.index_dir), pytest.raises(IndexLockedError, match="being built"):
        build_index(settings, progress=QUIET)


def test_loading_with_another_model_says_to_reindex(built_index):
    with pytest.raises(IndexMismatchError, match="policyqa index"):
        load_index(built_index.index_dir, model_id="BAAI/bge-small-zh-v1.5")


def test_loading_another_format_version_says_to_reindex(built_index, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(built_index.index_dir, copy)
    manifest_path = current_build(copy) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["format_version"] = 999
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="rebuild"):
        load_index(copy)


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexMissingError, match="policyqa index"):
        load_index(tmp_path / "nothing")


def test_killed_build_leaves_the_previous_index_intact(built_index, embedder, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(built_index.index_dir, index_dir)
    before = load_index(index_dir)
    query = embedder.embed_query("驻村工作队")
    expected = before.dense.search(query.reshape(1, -1), 5)[1].tolist()

    # A fresh embedding cache makes the forced rebuild slow enough to kill mid-way.
    cache = tmp_path / "cache"
    cache.mkdir()
    env = dict(
        os.environ,
        POLICYQA_INDEX_DIR=str(index_dir),
        POLICYQA_CACHE_DIR=str(cache),
        POLICYQA_CORPUS_DIR=str(built_index.corpus_dir),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "index", "--force"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (cache / "embeddings.sqlite").exists():
        time.sleep(0.2)
    time.sleep(3)  # into the embedding stage
    assert process.poll() is None, "the build finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()

    after = load_index(index_dir)
    assert after.build_dir == before.build_dir
    assert after.dense.search(query.reshape(1, -1), 5)[1].tolist() == expected

    report = build_index(built_index.replace(index_dir=index_dir), embedder=embedder, progress=QUIET, force=True)
    assert report.chunks == before.manifest.chunk_count
    assert [p.name for p in index_dir.glob("build-*")] == [current_build(index_dir).name]
