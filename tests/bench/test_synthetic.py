"""The synthetic corpus generator, on tiny hand-made material."""

from __future__ import annotations

import numpy as np

from bench.synthetic import (
    NUMBER,
    DistinctNumbers,
    Source,
    chunk_vectors,
    generate,
    sentence_vectors,
)

SENTENCES = [
    "2015年全国农村贫困人口减少1442万人。",
    "贫困发生率由10.2%下降至4.5%。",
    "中央财政累计投入专项扶贫资金6601亿元。",
    "国务院将10月17日确定为扶贫日。",
    "中央层面共安排320个单位定点帮扶592个贫困县。",
    "易地扶贫搬迁960多万贫困人口。",
    "累计选派25.5万个驻村工作队。",
    "产业扶贫带动贫困户增收。",
]


def tiny_source(dim: int = 8, seed: int = 0) -> Source:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((len(SENTENCES), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return Source(
        texts=list(SENTENCES),
        gaps=["", "\n", "", "", "\n", "", "", ""],
        document_of=np.array([0, 0, 0, 0, 1, 1, 1, 1]),
        titles=["甲文件", "乙文件"],
        vectors=vectors,
    )


def test_distinct_numbers_never_repeat_and_keep_their_digit_count():
    numbers = DistinctNumbers()
    first = numbers.replace("2015年有1442万人，占10.2%")
    second = numbers.replace("2015年有1442万人，占10.2%")
    values_first, values_second = NUMBER.findall(first), NUMBER.findall(second)
    assert [len(v) for v in values_first] == [4, 4, 4]  # "10.2" keeps 2 + 1 digits and its point
    assert "." in values_first[2]
    assert not set(values_first) & set(values_second)


def test_one_digit_numbers_run_out_into_two_digits():
    numbers = DistinctNumbers()
    values = [numbers.fresh(1) for _ in range(12)]
    assert values[:9] == list(range(1, 10))
    assert values[9:] == [10, 11, 12] and len(set(values)) == 12


def test_generated_corpus_has_the_wanted_chunks_and_exact_spans():
    corpus = generate(tiny_source(), chunks_wanted=25, chunk_size=60, chunk_overlap=10, seed=1)
    assert len(corpus.chunk_rows) == 25
    for doc_row, start, end in corpus.sentence_rows.tolist():
        assert end > start
        assert corpus.documents[doc_row].text[start:end].endswith("。")
    for (doc_row, start, end), source in zip(corpus.sentence_rows.tolist(), corpus.sentence_sources.tolist()):
        text = corpus.documents[doc_row].text[start:end]
        # Same sentence as its source once numbers are masked.
        assert NUMBER.sub("#", text) == NUMBER.sub("#", SENTENCES[source])
    for doc_row, start, end in corpus.chunk_rows.tolist():
        assert 0 <= start < end <= len(corpus.documents[doc_row].text)


def test_every_number_in_the_generated_corpus_is_distinct():
    corpus = generate(tiny_source(), chunks_wanted=40, chunk_size=60, chunk_overlap=10, seed=2)
    spans = [corpus.documents[d].text[s:e] for d, s, e in corpus.sentence_rows.tolist()]
    numbers = [n for text in spans for n in NUMBER.findall(text)]
    assert len(numbers) == len(set(numbers)) > 40


def test_composed_vectors_are_unit_length_and_near_their_sources():
    source = tiny_source()
    corpus = generate(source, chunks_wanted=10, chunk_size=60, chunk_overlap=10, seed=3)
    out = np.zeros((len(corpus.sentence_rows), 8), dtype=np.float32)
    sentence_vectors(source, corpus.sentence_sources, seed=3, out=out)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    cosines = (out * source.vectors[corpus.sentence_sources]).sum(axis=1)
    assert cosines.min() > 0.9
    chunks = chunk_vectors(source, corpus, seed=3)
    assert chunks.shape == (10, 8)
    assert np.allclose(np.linalg.norm(chunks, axis=1), 1.0, atol=1e-5)
