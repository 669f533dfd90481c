"""The benchmark's pure parts: exact top-k, recall, targets and the table, on hand-made numbers."""

from __future__ import annotations

import numpy as np

from bench.run import _ratios, _targets, format_table
from bench.scale import _exact_top, _recall
from index.vectors import top_n


def test_exact_top_in_blocks_equals_a_full_sort():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1000, 16)).astype(np.float32)
    queries = rng.standard_normal((7, 16)).astype(np.float32)
    found = _exact_top(vectors, queries, 10, top_n, block=128)
    for q, ids in zip(queries, found):
        assert ids.tolist() == np.argsort(-(vectors @ q), kind="stable")[:10].tolist()


def test_recall_is_the_mean_share_of_exact_neighbours_found():
    exact = [np.array([1, 2, 3, 4]), np.array([5, 6, 7, 8])]
    assert _recall([np.array([1, 2, 9, 4]), np.array([5, 6, 7, 8])], exact) == 0.875


def report(scale_chunks: int = 1_000_000) -> dict:
    ours = {
        "recall@5": 1.0,
        "mrr@10": 0.92,
        "answer_p50_ms": 25.0,
        "answer_p95_ms": 90.0,
        "retrieve_p50_ms": 20.0,
        "retrieve_p95_ms": 30.0,
        "embed_query_p50_ms": 14.0,
        "index_chunks_per_s": 5.0,
        "warm_reindex_s": 0.5,
    }
    queries = {
        "recall@5": 1.0,
        "mrr@10": 0.92,
        "retrieve_p50_ms": 40.0,
        "retrieve_p95_ms": 60.0,
        "embed_query_p50_ms": 28.0,
    }
    return {
        "ours": ours,
        "ours_int8_queries": {**queries, "recall@5": 0.94, "embed_query_p50_ms": 7.0},
        "ours_torch_queries": queries,
        "baseline": {
            "recall@5": 0.8,
            "mrr@10": 0.9,
            "retrieve_p50_ms": 40.0,
            "retrieve_p95_ms": 50.0,
            "index_chunks_per_s": 10.0,
        },
        "query_vector_agreement": {"onnx vs torch": {"min_cosine": 1.0}},
        "scale": [
            {
                "chunks": scale_chunks,
                "index_type": "ivf-sq8",
                "sentence_index_type": "ivf-pq",
                "retrieve_p50_ms": 18.0,
                "retrieve_p95_ms": 30.0,
                "recall@10_vs_exact": 0.97,
                "sentence_recall@10_vs_exact": 0.9,
                "bytes_per_chunk": 2100.0,
                "rss_mb": {"rss": 3900.0, "anon": 2300.0, "file": 1600.0},
            }
        ],
    }


def test_targets_name_what_was_met_and_what_was_missed():
    r = report()
    r["ratios"] = _ratios(r)
    targets = _targets(r)
    missed = {name for name, t in targets.items() if not t["met"]}
    assert missed == {
        "answer_p95_ms <= 80",
        "mrr@10 >= baseline + 0.05",
        "bytes_per_chunk <= 2048 at 1,000,000 chunks",
    }
    assert r["ratios"]["retrieve_p50 ours/baseline"] == 0.5


def test_scale_targets_are_judged_only_at_a_million_chunks():
    r = report(scale_chunks=10_000)
    assert not any("chunks" in name for name in _targets(r))


def test_the_table_ends_with_targets_then_ratios():
    r = report()
    r["targets"] = _targets(r)
    r["ratios"] = _ratios(r)
    lines = format_table(r).splitlines()
    assert lines[-2].startswith("targets: missed: ")
    assert lines[-1].startswith("ratios: retrieve_p50 ours/baseline 0.5")
    assert any("1,000,000 chunks" in line and "ivf-sq8+ivf-pq" in line and line.endswith(" 3900") for line in lines)


def test_milvus_beside_ours_is_judged_by_issue_13s_bar_and_shown_in_the_table():
    r = report(scale_chunks=10_000)
    r["milvus"] = {
        "recall@5": 0.98,
        "mrr@10": 0.88,  # 0.04 below ours
        "retrieve_p50_ms": 30.0,
        "retrieve_p95_ms": 45.0,
        "answer_p50_ms": 54.0,  # 2 x 25 + 5 = 55 allowed
        "answer_p95_ms": 120.0,
    }
    r["scale_milvus"] = [
        {
            "chunks": 10_000,
            "index_type": "AUTOINDEX",
            "retrieve_p50_ms": 24.0,
            "retrieve_p95_ms": 70.0,
            "recall@10_vs_exact": 1.0,
            "sentence_recall@10_vs_exact": 0.999,
            "server_rss_bytes_per_chunk": 70000.0,
            "server_rss_mb": 680.0,
        }
    ]
    targets = _targets(r)
    assert {name: t["met"] for name, t in targets.items() if name.startswith("milvus")} == {
        "milvus recall@5 within 0.03 of ours": True,
        "milvus mrr@10 within 0.03 of ours": False,
        "milvus answer_p50 <= 2x ours + 5 ms": True,
    }
    r["targets"], r["ratios"] = targets, _ratios(r)
    assert r["ratios"]["answer_p50 milvus/ours"] == 2.16
    lines = format_table(r).splitlines()
    assert any(line.startswith("ours on Milvus") and "54.0 / 120.0" in line for line in lines)
    assert any("milvus AUTOINDEX" in line and line.endswith(" 680") for line in lines)
