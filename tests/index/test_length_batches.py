"""Batching by length: shortest first, within the text and token budgets (hand-made lengths)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.embed import length_batches


def test_texts_are_grouped_shortest_first_and_padding_stays_small():
    lengths = [30, 5, 300, 6, 28, 290, 7, 31]
    batches = length_batches(lengths, max_texts=3, max_tokens=10_000)
    assert batches == [[1, 3, 6], [4, 0, 7], [5, 2]]


def test_the_token_budget_cuts_batches_of_long_texts():
    lengths = [500] * 5 + [10] * 4
    batches = length_batches(lengths, max_texts=16, max_tokens=1000)
    assert batches == [[5, 6, 7, 8], [0, 1], [2, 3], [4]]


def test_a_text_longer_than_the_budget_is_a_batch_alone():
    assert length_batches([5000, 3], max_texts=16, max_tokens=1000) == [[1], [0]]


def test_nothing_to_batch():
    assert length_batches([], max_texts=16, max_tokens=1000) == []


@pytest.mark.parametrize(("texts", "tokens"), [(0, 100), (16, 0)])
def test_budgets_below_one_are_refused(texts, tokens):
    with pytest.raises(ValueError, match="at least 1"):
        length_batches([1, 2], max_texts=texts, max_tokens=tokens)


@given(
    st.lists(st.integers(min_value=1, max_value=600), max_size=200),
    st.integers(min_value=1, max_value=32),
    st.integers(min_value=1, max_value=8192),
)
def test_every_position_once_and_every_batch_within_budget(lengths, max_texts, max_tokens):
    batches = length_batches(lengths, max_texts, max_tokens)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(flat)
    for batch in batches:
        assert len(batch) <= max_texts
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= max_tokens
