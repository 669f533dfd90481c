"""A rebuild killed with SIGKILL at any stage leaves the previous index loadable and unchanged."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from index.build import build_index
from index.store import current_build, load_index
from qa.answer_json import answer_to_json
from qa.pipeline import QAPipeline
from tests.conftest import REPO

pytestmark = pytest.mark.slow

# The child patches one step of the build to kill itself with SIGKILL right there.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import faiss
    import index.build, index.embed, index.store
    from index.settings import load_settings

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    point = sys.argv[1]
    if point == "embedding":
        index.embed.SentenceTransformerEmbedder.embed_batches = die
    elif point == "lexical":
        index.build.LexicalIndex.build = die
    elif point == "vectors":
        index.store.faiss.write_index = die
    elif point == "manifest":
        index.store._write_durably = die
    elif point == "swap":
        index.store.os.replace = die
    index.build.build_index(load_settings(), force=True, progress=lambda *a: None)
    """
)
QUESTIONS = ["扶贫日是每年的哪一天？", "中央层面共安排多少个单位定点帮扶贫困县？", "2015年底西藏的贫困发生率是多少？"]


def _answers(settings, embedder) -> list[dict]:
    pipeline = QAPipeline(settings, embedder=embedder)
    replies = [answer_to_json(pipeline.ask(q)) for q in QUESTIONS]
    for reply in replies:
        reply.pop("timings_ms")
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
