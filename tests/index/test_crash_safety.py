"""A rebuild killed with SIGKILL at any stage leaves the previous index loadable and unchanged, in
either store (Milvus: a milvus-lite server on 127.0.0.1 reached over http://)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from index.build import build_index
from index.milvus_client import Connection
from index.settings import Settings
from index.store import current_build, load_index
from qa.answer_json import answer_to_json
from qa.pipeline import QAPipeline
from tests.conftest import CACHE, REPO, milvus_settings, store_env

pytestmark = pytest.mark.slow

# The child patches one step of the build to kill itself with SIGKILL right there.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import faiss
    import index.build, index.embed, index.local_store, index.store
    from index.settings import load_settings

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    point = sys.argv[1]
    if point == "embedding":
        index.embed.SentenceTransformerEmbedder.embed_batches = die
    elif point == "lexical":
        index.local_store.LexicalIndex.build = die
    elif point == "vectors":
        index.store.faiss.write_index = die
    elif point == "manifest":
        index.store._write_durably = die
    elif point == "swap":
        index.store.os.replace = die
    index.build.build_index(load_settings(), force=True, progress=lambda *a: None)
    """
)
FACT = "青松县2024年在12个行政村新建村级光伏电站37座，带动1460户脱贫户稳定增收。"
QUESTIONS = ["扶贫日是每年的哪一天？", "中央层面共安排多少个单位定点帮扶贫困县？", "2015年底西藏的贫困发生率是多少？"]


def _answers(settings, embedder, scores: bool = True) -> list[dict]:
    pipeline = QAPipeline(settings, embedder=embedder)
    replies = [answer_to_json(pipeline.ask(q)) for q in QUESTIONS]
    for reply in replies:
        reply.pop("timings_ms")
        for passage in [] if scores else reply["passages"]:
            passage.pop("score")
    return replies


@pytest.mark.parametrize("point", ["embedding", "lexical", "vectors", "manifest", "swap"])
def test_killed_rebuild_keeps_the_previous_index(point, built_index, embedder, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(built_index.index_dir, index_dir)
    settings = built_index.replace(index_dir=index_dir)
    before_build = current_build(index_dir)
    before = _answers(settings, embedder)

    cache = tmp_path / "cache"
    cache.mkdir()
    if point != "embedding":  # a warm cache: the build reaches its later stages at once
        shutil.copy(built_index.cache_dir / "embeddings.sqlite", cache / "embeddings.sqlite")
    env = dict(
        os.environ,
        POLICYQA_INDEX_DIR=str(index_dir),
        POLICYQA_CACHE_DIR=str(cache),
        POLICYQA_CORPUS_DIR=str(built_index.corpus_dir),
    )
    child = subprocess.run([sys.executable, "-c", CHILD, point], cwd=REPO, env=env, capture_output=True, timeout=600)
    assert child.returncode == -9, f"the build was not killed at {point}: {child.stderr.decode()[-2000:]}"

    assert current_build(index_dir) == before_build
    assert _answers(settings, embedder) == before

    report = build_index(settings, embedder=embedder, progress=lambda *_: None, force=True)
    assert report.chunks == load_index(index_dir).manifest.chunk_count
    assert [p.name for p in index_dir.glob("build-*")] == [current_build(index_dir).name]


# The same, for Milvus: the child writes a new generation into the test server and is killed
# at one step; the live row must still name the previous generation.
MILVUS_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import index.build, index.embed, index.milvus_client as milvus
    from index.settings import load_settings

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    point = sys.argv[1]
    if point == "embedding":
        index.embed.SentenceTransformerEmbedder.embed_batches = die
    elif point == "switch":
        milvus.Connection.write_live = die
    else:  # killed while writing rows into one kind of collection ("in-place": the documents' rows)
        kind = "documents" if point == "in-place" else point
        call = milvus.Connection.call

        def call_or_die(self, method, *args, **kwargs):
            if method in ("insert", "upsert") and args and args[0].endswith("_" + kind):
                die()
            return call(self, method, *args, **kwargs)

        milvus.Connection.call = call_or_die
    index.build.build_index(load_settings(), force=point != "in-place", progress=lambda *a: None)
    """
)


def _answers_without_scores(replies: list[dict]) -> list[dict]:
    return [{**r, "passages": [{k: v for k, v in p.items() if k != "score"} for p in r["passages"]]} for r in replies]


@pytest.mark.parametrize("point", ["embedding", "chunks", "sentences", "terms", "switch", "in-place"])
def test_killed_milvus_build_keeps_the_previous_index_serving(point, embedder, milvus_uri, corpus_copy, tmp_path):
    settings = milvus_settings(
        Settings(corpus_dir=corpus_copy, index_dir=tmp_path / "index", cache_dir=CACHE),
        milvus_uri,
        f"crash_{point.replace('-', '_')}",
    )
    build_index(settings, embedder=embedder, progress=lambda *_: None, force=True)
    connection = Connection(settings)
    before_live = connection.read_live()
    before = _answers(settings, embedder)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(CACHE / "models")
    if point != "embedding":
        shutil.copy(CACHE / "embeddings.sqlite", cache / "embeddings.sqlite")
    if point == "in-place":  # a document added in the 知识库 tab: its rows go into the live generation
        (corpus_copy / "青松县通报.txt").write_text(f"青松县光伏扶贫通报\n{FACT}", encoding="utf-8")
    env = store_env(settings, POLICYQA_CACHE_DIR=str(cache))
    child = subprocess.run(
        [sys.executable, "-c", MILVUS_CHILD, point], cwd=REPO, env=env, capture_output=True, timeout=600
    )
    assert child.returncode == -9, f"the build was not killed at {point}: {child.stderr.decode()[-2000:]}"

    live = connection.read_live()
    assert live["generation"] == before_live["generation"]
    if point == "in-place":
        # The unfinished rows are never returned (their revision is not live), but Milvus counts
        # them in its BM25 statistics: the same answers and passages, with slightly other scores.
        assert _answers(settings, embedder, scores=False) == _answers_without_scores(before)
    else:
        assert _answers(settings, embedder) == before
    if point == "in-place":
        # Killed midway through an update in place: the next build writes a new generation.
        assert live["updating"]
        report = build_index(settings, embedder=embedder, progress=lambda *_: None)
        assert report.added == ("青松县通报.txt",) and not report.up_to_date
        assert connection.read_live()["generation"] != before_live["generation"]
        answer = QAPipeline(settings, embedder=embedder).ask("青松县2024年新建了多少座村级光伏电站？")
        assert "37座" in answer.text
    else:
        build_index(settings, embedder=embedder, progress=lambda *_: None, force=True)
    # What the killed build left is gone; the generation before the live one is kept for readers.
    after = connection.read_live()
    assert connection.generations() == {after["generation"], before_live["generation"]}
    assert after["previous"] == before_live["generation"]
