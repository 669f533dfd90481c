"""Scale benchmark of the Milvus store: the synthetic corpus of ``bench.scale`` loaded into Milvus,
then retrieval latency, recall against exact search and memory, as ``bench.scale`` measures the
local store.

    python -m bench.scale build  --real-index .index --chunks 100000 --work /tmp/scale/100000
    python -m bench.scale_milvus load    --work /tmp/scale/100000 --uri http://127.0.0.1:19530
    python -m bench.scale_milvus measure --work /tmp/scale/100000 --uri http://127.0.0.1:19530 [--server-pid PID]

``load`` writes the local synthetic index's documents, spans and (composed) vectors into
collections ``<prefix>_*`` through the product's writer (index.milvus_writer), so Milvus holds
exactly what the local store holds. ``measure`` runs in a fresh process: ``Retriever.search``
over the Milvus store with the query vectors given (second pass; the first is reported as
cold), each search alone, recall@10 of chunk and sentence search against exact search over
the same vectors, BM25's top 10 against the local store's exact BM25, and memory: the
resident memory of the milvus-lite server process (``--server-pid``) and what this client
process added.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_PREFIX = "bench_scale"


def milvus_settings(uri: str, prefix: str, token: str = ""):
    """Settings of the Milvus store for the benchmark's collections."""
    from index.settings import Settings

    return Settings(store="milvus", milvus_uri=uri, milvus_token=token, milvus_prefix=prefix, milvus_timeout_s=600)


def load(work: Path, uri: str, prefix: str, token: str = "") -> dict:
    """Write ``work/index`` (a synthetic local index) into Milvus as a new generation."""
    from bench.scale import _flat_vectors
    from index.milvus_writer import MilvusWriter
    from index.store import load_index
    from index.stores import IndexContents

    data = load_index(work / "index", mmap=True)
    chunk_vectors = data.chunk_vectors if data.chunk_vectors is not None else _flat_vectors(data.dense)
    contents = IndexContents(
        data.manifest, data.documents, data.chunks, data.sentences, chunk_vectors, data.sentence_vectors
    )
    started = time.perf_counter()

    def say(stage: str, done: int, total: int) -> None:
        if done == total or done % 50_000 < 4_096:
            print(f"  [milvus {len(data.chunks)} chunks] {stage} {done}/{total}", file=sys.stderr, flush=True)

    MilvusWriter(milvus_settings(uri, prefix, token)).write(contents, None, say)
    seconds = time.perf_counter() - started
    info = {
        "load_s": round(seconds, 1),
        "rows": len(data.chunks) + len(data.sentences),
        "rows_per_s": round((len(data.chunks) + len(data.sentences)) / seconds, 1),
    }
    (work / "milvus-load.json").write_text(json.dumps(info), encoding="utf-8")
    return info


def measure(work: Path, uri: str, prefix: str, server_pid: int | None = None, token: str = "") -> dict:
    """Open the Milvus store in this (fresh) process and measure it against exact search."""
    from bench.scale import RECALL_DEPTH, _exact_top, _flat_vectors, _recall, latency_figures, rss_bytes
    from index.embed import single_threaded_blas
    from index.milvus_store import MilvusStore
    from index.store import load_index
    from index.vectors import top_n
    from qa.retrieve import CANDIDATES, SENTENCES_PER_CHUNK, Retriever

    single_threaded_blas()
    queries = np.load(work / "queries.npz", allow_pickle=False)
    texts = json.loads(str(queries["texts"]))
    vectors = np.asarray(queries["vectors"], dtype=np.float32)
    before = rss_bytes()
    server_before = _server_rss(server_pid)
    started = time.perf_counter()
    store = MilvusStore.open(milvus_settings(uri, prefix, token))
    open_s = time.perf_counter() - started
    retriever = Retriever(store, embedder=None)
    cold = []
    for text, vector in zip(texts, vectors):
        t0 = time.perf_counter()
        retriever.search(text, 10, vector)
        cold.append(time.perf_counter() - t0)
    total, dense, sentence, lexical = [], [], [], []
    wanted = CANDIDATES * SENTENCES_PER_CHUNK
    for text, vector in zip(texts, vectors):
        t0 = time.perf_counter()
        retriever.search(text, 10, vector)
        t1 = time.perf_counter()
        store.search_chunks(vector, CANDIDATES)
        t2 = time.perf_counter()
        store.search_sentences(vector, wanted)
        t3 = time.perf_counter()
        store.search_lexical(text, CANDIDATES)
        t4 = time.perf_counter()
        total.append(t1 - t0)
        dense.append(t2 - t1)
        sentence.append(t3 - t2)
        lexical.append(t4 - t3)
    queried = rss_bytes()
    approximate_chunks = [store.search_chunks(v, RECALL_DEPTH)[0] for v in vectors]
    approximate_sentences = [store.search_sentences(v, wanted)[0][:RECALL_DEPTH] for v in vectors]
    milvus_lexical = [store.search_lexical(t, RECALL_DEPTH)[0] for t in texts]
    data = load_index(work / "index", mmap=True)
    chunk_vectors = data.chunk_vectors if data.chunk_vectors is not None else _flat_vectors(data.dense)
    exact_chunks = _exact_top(chunk_vectors, vectors, RECALL_DEPTH, top_n)
    exact_sentences = _exact_top(data.sentence_vectors, vectors, RECALL_DEPTH, top_n)
    data.lexical.max_df_share = None
    exact_lexical = [data.lexical.search(t, RECALL_DEPTH)[0] for t in texts]
    chunks = store.manifest.chunk_count
    loaded = json.loads((work / "milvus-load.json").read_text(encoding="utf-8"))
    server = _server_rss(server_pid)
    return {
        "store": "milvus",
        "chunks": chunks,
        "sentences": store.manifest.sentence_count,
        "documents": len(store.heads()),
        "index_type": "AUTOINDEX",
        "vectors": "composed (real sentence vectors + noise; no model call)",
        **latency_figures(total, cold, dense, sentence, lexical),
        "recall@10_vs_exact": round(_recall(approximate_chunks, exact_chunks), 4),
        "sentence_recall@10_vs_exact": round(_recall(approximate_sentences, exact_sentences), 4),
        # Milvus' BM25 against the local store's exact BM25 over the same tokens.
        "lexical_recall@10_vs_local": round(_recall(milvus_lexical, exact_lexical), 4),
        "client_rss_added_mb": round((queried["rss"] - before["rss"]) / 2**20, 1),
        "server_rss_mb": round(server / 2**20, 1) if server else None,
        "server_rss_bytes_per_chunk": round(server / chunks, 1) if server else None,
        "server_rss_before_open_mb": round(server_before / 2**20, 1) if server_before else None,
        "open_s": round(open_s, 2),
        "queries": len(texts),
        **loaded,
    }


def _server_rss(pid: int | None) -> int:
    """Resident memory of the Milvus server process, when it runs on this machine."""
    if not pid:
        return 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.scale_milvus``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("load", "measure"):
        p = commands.add_parser(name)
        p.add_argument("--work", type=Path, required=True)
        p.add_argument("--uri", required=True)
        p.add_argument("--prefix", default=DEFAULT_PREFIX)
        if name == "measure":
            p.add_argument("--server-pid", type=int)
    args = parser.parse_args(argv)
    from index.settings import load_settings

    token = load_settings().milvus_token
    if args.command == "load":
        result = load(args.work, args.uri, args.prefix, token)
    else:
        result = measure(args.work, args.uri, args.prefix, args.server_pid, token)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
