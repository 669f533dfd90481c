"""bench.conflicts on the real corpus: what the period rule keeps apart, and that it is all it keeps apart."""

from __future__ import annotations

import dataclasses

import pytest

from bench.conflicts import corpus_statements, pairs
from index.store import load_index

pytestmark = pytest.mark.slow


def test_no_figure_of_the_corpus_conflicts_with_another_of_the_same_period(built_index):
    statements = corpus_statements(load_index(built_index.index_dir))
    assert len(statements) > 1000
    assert pairs(statements) == []
    timeless = pairs([dataclasses.replace(s, period=frozenset()) for s in statements])
    assert timeless, "without the period rule some figures of different years would be reported"
    # Each of those pairs compares two documents.
    assert all(a.sentence.doc_id != b.sentence.doc_id for a, b in timeless)


def test_the_command_prints_both_counts(built_index, capsys):
    from bench.conflicts import main

    assert main(["--corpus-wide", "--index", str(built_index.index_dir)]) == 0
    out = capsys.readouterr().out
    assert "pairs reported as conflicts: 0" in out and "without the period rule:" in out
