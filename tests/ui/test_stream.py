"""Streaming: pieces as composed, then the Answer; extractive answers replay sentence by sentence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.errors import QuestionError
from qa.types import Answer
from ui.stream import answer_pieces, answer_stream, ends_sentence

ANSWER = Answer("q", True, "一。[1]二？三", (), (), {})


def test_pieces_end_after_sentence_punctuation_and_markers():
    text = "中央层面共安排320个单位。[1]第二句“好”！[2][3]没有句号的结尾"
    assert list(answer_pieces(text)) == ["中央层面共安排320个单位。[1]", "第二句“好”！[2][3]", "没有句号的结尾"]


@given(st.text(alphabet="一二三。！？；\n[]123abc ", max_size=60))
def test_pieces_always_join_to_the_text(text):
    pieces = list(answer_pieces(text))
    assert "".join(pieces) == text
    assert all(pieces)


@pytest.mark.parametrize(
    ("text", "ends"), [("一。", True), ("一。[1]", True), ("一“二。”", True), ("一二", False), ("", False)]
)
def test_sentence_ends(text, ends):
    assert ends_sentence(text) is ends


class Extractive:
    def ask(self, question, history=None, top_k=None):
        if not question:
            raise QuestionError("请输入问题。")
        return ANSWER


class Streaming(Extractive):
    def ask_stream(self, question, history=None, top_k=None):
        yield "一"
        yield "。"
        yield Answer("q", True, "一。[1]", (), (), {})  # the checked text replaces the raw tokens


def test_an_extractive_answer_is_replayed_sentence_by_sentence_then_given_whole():
    assert list(answer_stream(Extractive(), "q")) == ["一。[1]", "二？", "三", ANSWER]


def test_the_pipelines_own_stream_is_used_when_it_has_one():
    items = list(answer_stream(Streaming(), "q"))
    assert items[:2] == ["一", "。"] and items[-1].text == "一。[1]"


def test_question_errors_surface_on_the_first_piece():
    with pytest.raises(QuestionError):
        next(answer_stream(Extractive(), ""))
