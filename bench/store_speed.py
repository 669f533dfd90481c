"""Local store against Milvus on the same questions, in one process: answers and their speed.

    python -m bench.store_speed --local-index .index --milvus-uri http://127.0.0.1:19530 \\
        --qa bench/questions/dev.jsonl,bench/questions/holdout.jsonl [--rounds 2]

Both indexes must hold the same corpus (``policyqa index`` with each store's settings). Each
question is asked of both pipelines in turn, the order swapped every round, so machine noise
falls on both alike; prints p50/p95 per store, their ratio against issue 13's bar (Milvus p50
≤ 2 × local + 5 ms) and how many answers have the same text.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-index", type=Path, required=True, help="index folder of the local store")
    parser.add_argument("--milvus-uri", required=True, help="the Milvus holding the same corpus")
    parser.add_argument("--milvus-prefix", default="policyqa")
    parser.add_argument("--qa", required=True, help="question sets, comma-separated")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    from index.embed import SentenceTransformerEmbedder
    from index.settings import load_settings
    from qa.evaluate import read_questions
    from qa.pipeline import QAPipeline

    base = load_settings()
    local = base.replace(store="faiss", index_dir=args.local_index)
    milvus = base.replace(store="milvus", milvus_uri=args.milvus_uri, milvus_prefix=args.milvus_prefix)
    embedder = SentenceTransformerEmbedder(local)
    pipelines = {"local": QAPipeline(local, embedder=embedder), "milvus": QAPipeline(milvus, embedder=embedder)}
    questions = [q.question for name in args.qa.split(",") for q in read_questions(Path(name))]
    for pipeline in pipelines.values():  # warm-up
        pipeline.ask(questions[0])
    seconds: dict[str, list[float]] = {name: [] for name in pipelines}
    same = 0
    for round_ in range(args.rounds):
        order = list(pipelines) if round_ % 2 == 0 else list(pipelines)[::-1]
        for question in questions:
            texts = {}
            for name in order:
                started = time.perf_counter()
                texts[name] = pipelines[name].ask(question).text
                seconds[name].append(time.perf_counter() - started)
            same += round_ == 0 and texts["local"] == texts["milvus"]
    p50 = {name: float(np.percentile(v, 50)) * 1000 for name, v in seconds.items()}
    p95 = {name: float(np.percentile(v, 95)) * 1000 for name, v in seconds.items()}
    for name in pipelines:
        print(f"{name:7s} answer p50 {p50[name]:.1f} ms, p95 {p95[name]:.1f} ms")
    bound = 2 * p50["local"] + 5
    print(
        f"milvus/local p50 {p50['milvus'] / p50['local']:.2f}; bar 2x local + 5 ms = {bound:.1f} ms "
        f"({'met' if p50['milvus'] <= bound else 'missed'}); same answer text {same}/{len(questions)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
