"""BM25 built one text at a time scores exactly as bm25s' own builder, and survives a save."""

from __future__ import annotations

import re

import bm25s
import numpy as np
import pytest

from index.lexical import LexicalIndex, tokenize

TEXTS = [
    "2015年全国农村贫困人口减少1442万人。",
    "贫困发生率由10.2%下降至4.5%。",
    "中央财政累计投入专项扶贫资金6601亿元。",
    "国务院将10月17日确定为扶贫日。",
    "中央层面共安排320个单位定点帮扶592个贫困县。",
    "易地扶贫搬迁960多万贫困人口。",
    "累计选派25.5万个驻村工作队。",
    "产业扶贫带动贫困户增收。",
    "",
    "扶贫扶贫扶贫资金",
    "10月17日 扶贫日 2014年起",
]
QUERIES = ["扶贫资金", "贫困发生率下降", "10月17日", "驻村工作队", "产业扶贫增收", "没有的词语"]


def bm25s_reference(texts: list[str], method: str) -> bm25s.BM25:
    """bm25s' own builder over the same tokens (the placeholder "" for a text without any)."""
    retriever = bm25s.BM25()
    retriever.index([tokenize(t, method) or [""] for t in texts], show_progress=False)
    return retriever


@pytest.mark.parametrize("method", ["bigram", "jieba"])
def test_scores_are_bm25s_scores(method):
    ours = LexicalIndex.build(iter(TEXTS), method, len(TEXTS))
    reference = bm25s_reference(TEXTS, method)
    checked = 0
    for query in QUERIES:
        tokens = [t for t in tokenize(query, method) if t in reference.vocab_dict]
        assert [t for t in tokenize(query, method) if t in ours.retriever.vocab_dict] == tokens
        if tokens:
            assert np.allclose(ours.scores(tokens), reference.get_scores(tokens), atol=1e-5), query
            checked += 1
    assert checked == len(QUERIES) - 1  # every query but the one of unknown words


def test_a_sequence_needs_no_count():
    assert LexicalIndex.build(TEXTS, "bigram").retriever.scores["num_docs"] == len(TEXTS)


def test_an_index_survives_a_save_and_a_memory_mapped_load(tmp_path):
    ours = LexicalIndex.build(TEXTS, "bigram")
    ours.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25", "bigram", mmap=True)
    ids, scores = loaded.search("中央财政扶贫资金", 3)
    expected_ids, expected_scores = ours.search("中央财政扶贫资金", 3)
    assert ids.tolist() == expected_ids.tolist()
    assert np.allclose(scores, expected_scores)
    assert re.search("资金", TEXTS[int(ids[0])])
