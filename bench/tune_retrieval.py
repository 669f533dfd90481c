"""Measure chunk sizes and fusion settings on a question set (retrieval only).

Usage: .venv/bin/python -m bench.tune_retrieval --qa bench/questions/dev.jsonl [--sizes 200:40,300:60]

Builds one index per chunk size (vectors come from the shared embedding cache
after the first run) and prints Recall@1, Recall@5 and MRR@10 for each fusion
setting, so the defaults in index/settings.py and qa/retrieve.py can be
chosen by measurement.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from index.build import build_index
from index.embed import SentenceTransformerEmbedder
from index.local_store import LocalStore
from index.settings import load_settings
from index.store import load_index
from qa.evaluate import first_relevant_rank, read_questions
from qa.retrieve import FusionConfig, Retriever

FUSIONS = [
    FusionConfig("dense"),
    FusionConfig("sentence"),
    FusionConfig("lexical"),
    FusionConfig("rrf", 1.0, 1.0),
] + [
    FusionConfig(method, dense, lexical, sentence)
    for method in ("rrf", "weighted")
    for dense in (0.0, 0.3, 0.5)
    for lexical in (0.5, 1.0)
    for sentence in (0.5, 1.0, 1.5)
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, required=True)
    parser.add_argument("--sizes", default="200:40,300:60,400:80,500:100")
    parser.add_argument("--tokenizers", default="jieba,bigram")
    args = parser.parse_args()
    questions = [q for q in read_questions(args.qa) if q.answerable]
    settings = load_settings()
    embedder = SentenceTransformerEmbedder(settings)
    query_vectors = {q.id: embedder.embed_query(q.question) for q in questions}
    print(f"{'chunks':>8} {'tokens':<7} {'fusion':<26} {'R@1':>6} {'R@5':>6} {'MRR':>6}")
    runs = [(spec, tokenizer) for spec in args.sizes.split(",") for tokenizer in args.tokenizers.split(",")]
    for spec, tokenizer in runs:
        size, overlap = (int(x) for x in spec.split(":"))
        with tempfile.TemporaryDirectory() as tmp:
            run = settings.replace(
                chunk_size=size, chunk_overlap=overlap, lexical_tokenizer=tokenizer, index_dir=Path(tmp)
            )
            build_index(run, embedder=embedder, progress=lambda *_: None)
            store = LocalStore(load_index(run.index_dir))
            for fusion in FUSIONS:
                retriever = Retriever(store, embedder, fusion)
                ranks = []
                for q in questions:
                    hits = retriever.search(q.question, 10, query_vectors[q.id])
                    reply = {"passages": [{"source": h.doc_id, "text": h.text} for h in hits]}
                    ranks.append(first_relevant_rank(reply, q))
                n = len(questions)
                r1 = sum(1 for r in ranks if r == 1) / n
                r5 = sum(1 for r in ranks if r is not None and r <= 5) / n
                mrr = sum(1 / r for r in ranks if r is not None) / n
                label = f"{fusion.method} d{fusion.dense_weight}/l{fusion.lexical_weight}/s{fusion.sentence_weight}"
                print(f"{size:>5}/{overlap:<3} {tokenizer:<7} {label:<26} {r1:6.3f} {r5:6.3f} {mrr:6.3f}", flush=True)


if __name__ == "__main__":
    main()
