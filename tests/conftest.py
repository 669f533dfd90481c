"""Shared fixtures: the real corpus, the real default model (loaded once), a real index."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from index.settings import Settings

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
DEV_SET = REPO / "bench" / "questions" / "dev.jsonl"
# Converted model and embedding cache are shared between test runs (both are
# content-addressed, so sharing cannot change results, only skip repeated work).
CACHE = REPO / ".cache"
# Converted models too stay inside the repository (the product's default is the machine-wide
# ~/.cache/policyqa/models); servers and builds started by tests inherit this.
MODELS = CACHE / "models"
os.environ["POLICYQA_MODEL_CACHE_DIR"] = str(MODELS)


def empty_config(folder: Path) -> str:
    """An empty config file in ``folder``, for POLICYQA_CONFIG: a developer's policyqa.toml
    must not change what a test sees, and a named config file has to exist."""
    path = folder / "empty-config.toml"
    path.write_text("", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory) -> Settings:
    """Settings for the real corpus with a private index folder."""
    return Settings(
        corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("index"), cache_dir=CACHE, model_cache_dir=MODELS
    )


@pytest.fixture(scope="session")
def embedder(base_settings):
    """The real default embedding model, loaded once per test session."""
    from index.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(base_settings)


@pytest.fixture(scope="session")
def built_index(base_settings, embedder) -> Settings:
    """An index of the real corpus, built once per session; returns its settings."""
    from index.build import build_index

    build_index(base_settings, embedder=embedder, progress=lambda *_: None)
    return base_settings


@pytest.fixture(scope="session")
def pipeline(built_index, embedder):
    """The answering pipeline over the real index and model."""
    from qa.pipeline import QAPipeline

    return QAPipeline(built_index, embedder=embedder)


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A writable copy of the real corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target
