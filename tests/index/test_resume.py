"""A build killed (SIGKILL) half-way through embedding resumes: only unfinished texts are embedded.

Real model, real files, a real child process killed by the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from index.build import build_index
from index.store import current_build, load_index
from tests.conftest import CORPUS, REPO, empty_config

pytestmark = pytest.mark.slow

# The child is the product's build, printing its embedding progress for the test to follow.
CHILD = textwrap.dedent(
    """
    from index.build import build_index
    from index.settings import load_settings

    def report(stage, done, total):
        if stage == "embed":
            print(done, total, flush=True)

    build_index(load_settings(), progress=report)
    """
)
DOCUMENTS = ("001_8f2e60f4829d27b2.txt", "002_88d20b9e249d40e3.txt")


def test_a_killed_build_resumes_where_it_stopped(base_settings, embedder, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in DOCUMENTS:
        shutil.copy(CORPUS / name, corpus / name)
    # A private, empty embedding cache: every text must be embedded.
    settings = base_settings.replace(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=tmp_path / "cache")
    env = dict(
        os.environ,
        POLICYQA_CONFIG=empty_config(tmp_path),
        POLICYQA_CORPUS_DIR=str(corpus),
        POLICYQA_INDEX_DIR=str(settings.index_dir),
        POLICYQA_CACHE_DIR=str(settings.cache_dir),
    )
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    done = total = 0
    for line in child.stdout:
        done, total = (int(x) for x in line.split())
        if total and done >= total / 2:
            child.send_signal(signal.SIGKILL)
            break
    child.wait()
    assert child.returncode == -signal.SIGKILL, f"the build was not killed half-way: {child.stderr.read()[-2000:]}"
    assert current_build(settings.index_dir) is None  # nothing was published
    assert total > 0 and total / 2 <= done < total

    resumed = build_index(settings, embedder=embedder, progress=lambda *_: None)
    assert 1 <= resumed.embedded <= total - done  # only what the killed build had not finished
    assert resumed.added == DOCUMENTS

    data = load_index(settings.index_dir)
    sentences = embedder.embed_documents([s.text for s in data.sentences])
    assert (np.asarray(data.sentence_vectors) * sentences).sum(axis=1).min() >= 0.9999
    chunks = np.vstack([data.dense.reconstruct(i) for i in range(data.dense.ntotal)])
    assert (chunks * embedder.embed_documents([c.text for c in data.chunks])).sum(axis=1).min() >= 0.9999
    # The killed build's unfinished directory is gone.
    assert [p.name for p in settings.index_dir.glob("build-*")] == [current_build(settings.index_dir).name]
