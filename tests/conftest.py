"""Shared fixtures: the real corpus, the real default model (loaded once), a real index, and a
real LLM server (llama.cpp with SmolLM2-135M, tests/llama_server.py)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
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
# Loading the 135M model takes about 3 s on 2 idle cores; a busy machine takes longer.
LLAMA_START_TIMEOUT_S = 120


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (a server started now may take it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory) -> str:
    """A milvus-lite server on 127.0.0.1 (a free port), reached over http:// as a cluster would be."""
    pytest.importorskip("pymilvus", reason="the milvus extra is not installed (make setup installs it)")
    from index.milvus_server import LiteServer

    with LiteServer(tmp_path_factory.mktemp("milvus") / "tests.db") as server:
        yield server.uri


def milvus_settings(settings: Settings, milvus_uri: str, prefix: str) -> Settings:
    """``settings`` with the index in the test server's Milvus, in collections named ``prefix``_*."""
    return settings.replace(store="milvus", milvus_uri=milvus_uri, milvus_prefix=prefix)


@pytest.fixture(scope="session")
def milvus_index(base_settings, embedder, milvus_uri, tmp_path_factory) -> Settings:
    """The real corpus indexed into the test Milvus server once per session; returns its settings."""
    from index.build import build_index

    settings = milvus_settings(base_settings, milvus_uri, "session").replace(
        index_dir=tmp_path_factory.mktemp("milvus-index")
    )
    build_index(settings, embedder=embedder, progress=lambda *_: None)
    return settings


@pytest.fixture(scope="session", params=["faiss", "milvus"])
def store_index(request) -> Settings:
    """The real corpus indexed in each store in turn (tests using it run once per store)."""
    return request.getfixturevalue("built_index" if request.param == "faiss" else "milvus_index")


def store_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a `policyqa` child process that uses the index of ``settings``."""
    env = dict(
        os.environ,
        POLICYQA_INDEX_DIR=str(settings.index_dir),
        POLICYQA_CACHE_DIR=str(settings.cache_dir),
        POLICYQA_CORPUS_DIR=str(settings.corpus_dir),
        POLICYQA_STORE=settings.store,
        POLICYQA_MILVUS_URI=settings.milvus_uri,
        POLICYQA_MILVUS_PREFIX=settings.milvus_prefix,
    )
    env.update(extra)
    return env


@dataclass
class LlamaServer:
    """A running llama.cpp server: its root URL, the OpenAI-compatible base URL and its log."""

    url: str
    log: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def base_url(self) -> str:
        """What ``POLICYQA_LLM_BASE_URL`` is set to."""
        return self.url + "/v1"

    def get(self, path: str) -> object:
        """GET ``path`` as JSON (``/props``, ``/slots``)."""
        with urllib.request.urlopen(self.url + path, timeout=10) as reply:
            return json.loads(reply.read())

    def metrics(self) -> dict[str, float]:
        """The Prometheus counters of ``/metrics`` by name (``llamacpp:prompt_tokens_total``, …)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as reply:
            lines = reply.read().decode().splitlines()
        return {
            name: float(value)
            for name, _, value in (line.partition(" ") for line in lines if line and not line.startswith("#"))
        }

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Wait until no slot is generating; True if that happened within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not any(slot.get("is_processing") for slot in self.get("/slots")):
                return True
            time.sleep(0.2)
        return False


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> LlamaServer:
    """llama.cpp's server on a free loopback port: SmolLM2-135M, n_ctx 2048, 2 threads, one slot."""
    log = tmp_path_factory.mktemp("llama") / "server.log"
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.llama_server", str(port)], cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
    server = LlamaServer(f"http://127.0.0.1:{port}", log, process)
    try:
        deadline = time.monotonic() + LLAMA_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama.cpp's server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if server.get("/health") == {"status": "ok"}:
                    break
            except (urllib.error.URLError, OSError, json.JSONDecodeError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"llama.cpp's server did not start in {LLAMA_START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.3)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """End a server the tests started: politely, then by force after 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
