"""Scale benchmark: retrieval latency, recall against exact search, and memory at 10^4..10^6 chunks.

Each size is built in one child process and measured in a fresh one, so the resident
memory measured is that of loading and querying the index, nothing else:

    python -m bench.scale build   --real-index .index --chunks 10000 --work /tmp/scale-1e4
    python -m bench.scale measure --work /tmp/scale-1e4

Vectors are composed from the real corpus' sentence vectors (``bench.synthetic``), not
model output; query vectors are the dev questions' real query vectors plus composed
vectors of synthetic sentences. Latency is ``Retriever.search`` (dense + sentence +
BM25 + fusion + reading the hits' text from disk) with the query vector given, i.e.
without query embedding, which does not depend on the corpus size; ``retrieve_p50_ms`` is
the second pass over the queries (page cache warm, as in a running server) and
``retrieve_cold_p50_ms`` the first.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Queries per size: the dev questions plus sentences of the synthetic corpus.
QUERIES = 100
RECALL_DEPTH = 10


def rss_bytes() -> dict[str, int]:
    """Resident memory of this process: total, anonymous and file-backed (Linux /proc)."""
    values = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                values[name] = int(rest.split()[0]) * 1024
    return {"rss": values.get("VmRSS", 0), "anon": values.get("RssAnon", 0), "file": values.get("RssFile", 0)}


def build(
    real_index: Path,
    chunks: int,
    work: Path,
    dev_queries: Path | None,
    flat_max_vectors: int,
    ann_index: str,
    threads: int = 2,
    seed: int = 0,
) -> dict:
    """Generate a synthetic corpus of ``chunks`` chunks and write its index into ``work/index``."""
    from bench.synthetic import Source, generate, source_from_index, write_synthetic_index
    from index.store import load_index
    from qa.query import topic_words

    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    real = load_index(real_index)
    source: Source = source_from_index(real)
    manifest = real.manifest
    corpus = generate(source, chunks, manifest.chunk_size, manifest.chunk_overlap, seed)
    generated = time.perf_counter()

    def say(stage: str) -> None:
        print(f"  [{chunks} chunks] {stage} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    say(f"generated {len(corpus.documents)} documents, {len(corpus.sentence_rows)} sentences")
    index_dir = work / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    write_synthetic_index(index_dir, source, corpus, work, manifest, flat_max_vectors, ann_index, seed, threads, say)
    written = time.perf_counter()
    # Queries: the dev questions (real query vectors) and synthetic sentences (composed vectors).
    rng = np.random.default_rng(seed + 3)
    texts: list[str] = []
    vectors: list[np.ndarray] = []
    if dev_queries is not None and dev_queries.is_file():
        dev = np.load(dev_queries, allow_pickle=False)
        texts.extend(json.loads(str(dev["texts"])))
        vectors.extend(dev["vectors"])
    picks = rng.choice(len(corpus.sentence_rows), size=max(QUERIES - len(texts), 0), replace=False)
    noise = 0.3 / math.sqrt(source.vectors.shape[1])
    for row in picks:
        doc_row, start, end = (int(x) for x in corpus.sentence_rows[row])
        texts.append(topic_words(corpus.documents[doc_row].text[start:end])[:40])
        vector = source.vectors[corpus.sentence_sources[row]] + rng.standard_normal(source.vectors.shape[1]) * noise
        vectors.append((vector / np.linalg.norm(vector)).astype(np.float32))
    np.savez(work / "queries.npz", texts=json.dumps(texts, ensure_ascii=False), vectors=np.stack(vectors))
    info = {
        "chunks": len(corpus.chunk_rows),
        "sentences": len(corpus.sentence_rows),
        "documents": len(corpus.documents),
        "generate_s": round(generated - started, 1),
        "index_s": round(written - generated, 1),
        "index_chunks_per_s": round(len(corpus.chunk_rows) / max(written - generated, 1e-9), 1),
    }
    (work / "build.json").write_text(json.dumps(info), encoding="utf-8")
    return info


def measure(work: Path) -> dict:
    """Load ``work/index`` in this (fresh) process and measure latency, recall and memory."""
    import faiss

    from index.embed import single_threaded_blas
    from index.local_store import LocalStore
    from index.store import load_index
    from index.vectors import top_n
    from qa.retrieve import CANDIDATES, SENTENCES_PER_CHUNK, Retriever

    faiss.omp_set_num_threads(1)  # as the product searches (index.embed.pin_threads)
    single_threaded_blas()
    queries = np.load(work / "queries.npz", allow_pickle=False)
    texts = json.loads(str(queries["texts"]))
    vectors = np.asarray(queries["vectors"], dtype=np.float32)
    before = rss_bytes()
    started = time.perf_counter()
    data = load_index(work / "index")
    load_s = time.perf_counter() - started
    loaded = rss_bytes()
    retriever = Retriever(LocalStore(data), embedder=None)
    # First pass: pages of the memory-mapped files come from disk as queries touch them.
    cold = []
    for text, vector in zip(texts, vectors):
        t0 = time.perf_counter()
        retriever.search(text, 10, vector)
        cold.append(time.perf_counter() - t0)
    # Second pass, as a running server sees it: the touched pages are in the page cache.
    total, dense, sentence, lexical = [], [], [], []
    for text, vector in zip(texts, vectors):
        t0 = time.perf_counter()
        retriever.search(text, 10, vector)
        t1 = time.perf_counter()
        retriever.dense(vector)
        t2 = time.perf_counter()
        retriever.sentence_dense(vector)
        t3 = time.perf_counter()
        data.lexical.search(text, 50)
        t4 = time.perf_counter()
        total.append(t1 - t0)
        dense.append(t2 - t1)
        sentence.append(t3 - t2)
        lexical.append(t4 - t3)
    queried = rss_bytes()
    approximate_lexical = [data.lexical.search(t, RECALL_DEPTH)[0] for t in texts]
    pruning, data.lexical.max_df_share = data.lexical.max_df_share, None
    exact_lexical = [data.lexical.search(t, RECALL_DEPTH)[0] for t in texts]
    data.lexical.max_df_share = pruning
    approximate_chunks = [data.chunk_search().search(v, RECALL_DEPTH)[0] for v in vectors]
    # Sentences are searched as the retriever does: as many as it asks for, top 10 compared.
    wanted = CANDIDATES * SENTENCES_PER_CHUNK
    approximate_sentences = [data.sentence_search().search(v, wanted)[0][:RECALL_DEPTH] for v in vectors]
    chunk_vectors = data.chunk_vectors if data.chunk_vectors is not None else _flat_vectors(data.dense)
    exact_chunks = _exact_top(chunk_vectors, vectors, RECALL_DEPTH, top_n)
    exact_sentences = _exact_top(data.sentence_vectors, vectors, RECALL_DEPTH, top_n)
    chunks = len(data.chunks)
    build_info = json.loads((work / "build.json").read_text(encoding="utf-8"))
    return {
        "chunks": chunks,
        "sentences": len(data.sentences),
        "documents": len(data.documents),
        "index_type": data.manifest.dense_index,
        "sentence_index_type": data.manifest.sentence_index,
        "vectors": "composed (real sentence vectors + noise; no model call)",
        **latency_figures(total, cold, dense, sentence, lexical),
        "recall@10_vs_exact": round(_recall(approximate_chunks, exact_chunks), 4),
        "sentence_recall@10_vs_exact": round(_recall(approximate_sentences, exact_sentences), 4),
        "lexical_recall@10_vs_exact": round(_recall(approximate_lexical, exact_lexical), 4),
        # Memory the loaded index holds (anonymous RSS). Memory-mapped files (BM25 postings,
        # exact vectors) are page cache the kernel can drop; their resident pages are below.
        "bytes_per_chunk": round((queried["anon"] - before["anon"]) / chunks, 1),
        "rss_bytes_per_chunk_incl_mapped": round((queried["rss"] - before["rss"]) / chunks, 1),
        "rss_mb": {k: round(v / 2**20, 1) for k, v in queried.items()},
        "rss_added_mb": {
            "after_load": round((loaded["rss"] - before["rss"]) / 2**20, 1),
            "after_queries": round((queried["rss"] - before["rss"]) / 2**20, 1),
            "anon": round((queried["anon"] - before["anon"]) / 2**20, 1),
            "file_mapped": round((queried["file"] - before["file"]) / 2**20, 1),
        },
        "disk_mb": round(sum(p.stat().st_size for p in data.build_dir.rglob("*") if p.is_file()) / 2**20, 1),
        "load_s": round(load_s, 2),
        "queries": len(texts),
        **{k: v for k, v in build_info.items() if k not in ("chunks", "sentences", "documents")},
    }


def _flat_vectors(index) -> np.ndarray:
    import faiss

    return faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)


def _exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, top_n, block: int = 1 << 18) -> list[np.ndarray]:
    """Brute-force top-k per query in one pass over the (memory-mapped) vectors."""
    best_ids = np.full((len(queries), k), -1, dtype=np.int64)
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    for begin in range(0, len(vectors), block):
        scores = np.asarray(vectors[begin : begin + block], dtype=np.float32) @ queries.T  # (block, q)
        for q in range(len(queries)):
            ids, values = top_n(scores[:, q], k)
            merged_ids = np.concatenate([best_ids[q], ids + begin])
            merged = np.concatenate([best_scores[q], values])
            order = np.lexsort((merged_ids, -merged))[:k]
            best_ids[q], best_scores[q] = merged_ids[order], merged[order]
    return list(best_ids)


def _recall(approximate: list[np.ndarray], exact: list[np.ndarray]) -> float:
    found = [len(set(a.tolist()) & set(e.tolist())) / max(len(e), 1) for a, e in zip(approximate, exact)]
    return float(np.mean(found)) if found else 0.0


def _ms(seconds: float) -> float:
    return round(float(seconds) * 1000, 2)


def latency_figures(
    total: Sequence[float],
    cold: Sequence[float],
    dense: Sequence[float],
    sentence: Sequence[float],
    lexical: Sequence[float],
) -> dict[str, float]:
    """The retrieval timings a scale run reports (seconds per query in, milliseconds out)."""
    return {
        "retrieve_p50_ms": _ms(np.percentile(total, 50)),
        "retrieve_p95_ms": _ms(np.percentile(total, 95)),
        "retrieve_cold_p50_ms": _ms(np.percentile(cold, 50)),
        "retrieve_cold_p95_ms": _ms(np.percentile(cold, 95)),
        "dense_p50_ms": _ms(np.percentile(dense, 50)),
        "sentence_p50_ms": _ms(np.percentile(sentence, 50)),
        "lexical_p50_ms": _ms(np.percentile(lexical, 50)),
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.scale``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("build")
    p.add_argument("--real-index", type=Path, required=True)
    p.add_argument("--chunks", type=int, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--dev-queries", type=Path)
    p.add_argument("--flat-max-vectors", type=int, default=50_000)
    p.add_argument("--ann-index", default="ivf-sq8")
    p.add_argument("--threads", type=int, default=2)
    p = commands.add_parser("measure")
    p.add_argument("--work", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "build":
        result = build(
            args.real_index,
            args.chunks,
            args.work,
            args.dev_queries,
            args.flat_max_vectors,
            args.ann_index,
            args.threads,
        )
    else:
        result = measure(args.work)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
