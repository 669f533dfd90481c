"""Fitting the prompt to the model's context: pure functions on hand-made passages and replies."""

from __future__ import annotations

import pytest

from index.types import Sentence
from qa import llm
from qa.llm_context import (
    DEFAULT_CONTEXT_TOKENS,
    GAP,
    GivenPassage,
    estimate_tokens,
    fit_passages,
    halve,
    join_sentences,
    llama_cpp_context,
    ollama_context,
    passage_block,
    server_root,
)
from qa.types import Hit


def _passage(chunk_id: int, sentences: list[str], start: int = 0) -> tuple[Hit, list[Sentence]]:
    """A passage of consecutive sentences starting at ``start`` in document ``d{chunk_id}``."""
    own, at = [], start
    for i, text in enumerate(sentences):
        own.append(Sentence(chunk_id * 100 + i, f"d{chunk_id}", at, at + len(text), text))
        at += len(text)
    return Hit(chunk_id, f"d{chunk_id}", f"文件{chunk_id}", None, "".join(sentences), start, at, 1.0), own


def _cost(text: str) -> int:
    return len(text)  # one token per character keeps the arithmetic readable


def _whole_costs(hits: list[Hit]) -> list[int]:
    return [_cost(passage_block(n, hit, hit.text) + "\n\n") for n, hit in enumerate(hits, 1)]


def test_all_passages_go_in_whole_when_they_fit():
    (a, a_s), (b, b_s) = _passage(1, ["甲一。", "甲二。"]), _passage(2, ["乙一。"])
    given = fit_passages([a, b], [a_s, b_s], [[0.1, 0.2], [0.3]], _whole_costs([a, b]), 1000, _cost)
    assert [(g.hit, g.text, g.trimmed) for g in given] == [(a, "甲一。甲二。", False), (b, "乙一。", False)]


def test_when_they_do_not_fit_the_best_sentences_go_in_kept_in_document_order():
    a, a_s = _passage(1, ["无关的第一句话。", "中央财政累计投入6601亿元。", "又一句无关的话。", "八年合计。"])
    b, b_s = _passage(2, ["另一文件的无关句子。", "脱贫攻坚投入大幅增长。"])
    scores = [[0.1, 0.9, 0.2, 0.8], [0.05, 0.7]]
    header = _cost(passage_block(2, a, "") + "\n\n")
    budget = header * 2 + 40  # room for both headers and about three short sentences
    given = fit_passages([a, b], [a_s, b_s], scores, _whole_costs([a, b]), budget, _cost)
    assert [g.hit for g in given] == [a, b]
    assert given[0].text == "中央财政累计投入6601亿元。" + GAP + "八年合计。" and given[0].trimmed
    assert given[0].sentences == (a_s[1], a_s[3])
    assert given[1].text == "脱贫攻坚投入大幅增长。" and given[1].sentences == (b_s[1],)
    total = sum(_cost(passage_block(n, g.hit, g.text) + "\n\n") for n, g in enumerate(given, 1))
    assert total <= budget


def test_a_passage_none_of_whose_sentences_fit_is_left_out():
    a, a_s = _passage(1, ["很短。"])
    b, b_s = _passage(2, ["这一句长得放不进剩下的预算里面去了。"])
    budget = _cost(passage_block(2, a, "") + "\n\n") + 10
    given = fit_passages([a, b], [a_s, b_s], [[0.5], [0.9]], _whole_costs([a, b]), budget, _cost)
    assert [g.hit for g in given] == [a]
    assert fit_passages([a, b], [a_s, b_s], [[0.5], [0.9]], _whole_costs([a, b]), 0, _cost) == []
    with pytest.raises(ValueError, match="as long as"):
        fit_passages([a, b], [a_s], [[0.5], [0.9]], _whole_costs([a, b]), 100, _cost)


def test_sentences_that_follow_each_other_join_without_a_gap():
    _, own = _passage(1, ["一。", "二。", "三。"])
    assert join_sentences(own) == "一。二。三。"
    assert join_sentences([own[0], own[2]]) == "一。" + GAP + "三。"


def test_halving_keeps_the_better_half_of_the_passages_or_of_one_passages_sentences():
    passages = [GivenPassage(*_passage(i, ["句。"])[:1], "句。", (), False) for i in range(5)]
    assert halve(passages) == passages[:2]
    hit, own = _passage(1, ["一。", "二。", "三。", "四。"])
    (only,) = halve([GivenPassage(hit, hit.text, tuple(own), False)])
    assert only.text == "一。二。" and only.trimmed
    assert halve([GivenPassage(hit, "一。", (own[0],), True)]) == []


def test_the_estimate_is_generous_for_chinese():
    # SmolLM2's tokenizer spends about 2 tokens per Chinese character of this corpus.
    assert estimate_tokens("中央财政累计投入") == 16
    assert estimate_tokens("abc def") == 3
    assert estimate_tokens("") == 0


def test_the_context_is_read_from_llama_cpp_props_and_ollama_show():
    assert llama_cpp_context({"default_generation_settings": {"n_ctx": 2048}, "total_slots": 1}) == 2048
    assert llama_cpp_context({"n_ctx": 8192}) == 8192
    assert llama_cpp_context({"detail": "Not Found"}) is None
    assert llama_cpp_context(None) is None
    parameters = 'num_ctx                        8192\nstop                           "<|im_end|>"'
    assert ollama_context({"parameters": parameters, "model_info": {"qwen2.context_length": 32768}}) == 8192
    assert ollama_context({"model_info": {"qwen2.context_length": 32768}}) == 4096  # Ollama's default
    assert ollama_context({"model_info": {"llama.context_length": 2048}}) == 2048
    assert ollama_context({"error": "model not found"}) is None
    assert DEFAULT_CONTEXT_TOKENS == 4096


def test_the_server_root_is_found_from_the_chat_url():
    assert server_root("http://127.0.0.1:8080/v1/chat/completions") == "http://127.0.0.1:8080"
    assert server_root("http://h:11434/v1/") == "http://h:11434"
    assert server_root("http://h/api/v1/chat/completions") == "http://h/api"


@pytest.mark.parametrize(
    "status,body,too_long,n_ctx",
    [
        (
            400,
            '{"error":{"code":400,"message":"request (4558 tokens) exceeds the available context size (2048 tokens),'
            ' try increasing it","type":"exceed_context_size_error","n_prompt_tokens":4558,"n_ctx":2048}}',
            True,
            2048,
        ),
        (
            400,
            '{"object":"error","message":"This model\'s maximum context length is 4096 tokens. However, you'
            ' requested 5000 tokens","type":"BadRequestError","code":400}',
            True,
            None,
        ),
        (400, '{"error":{"message":"too long","code":"context_length_exceeded"}}', True, None),
        (500, '{"error":{"message":"boom"}}', False, None),
        (404, "File Not Found", False, None),
    ],
)
def test_a_context_size_error_is_told_apart_from_other_errors(status, body, too_long, n_ctx):
    error = llm._status_error(status, body)
    assert isinstance(error, llm.ContextTooSmall) is too_long
    assert f"HTTP {status}" in str(error)
    if too_long:
        assert "上下文长度" in str(error) and error.n_ctx == n_ctx
