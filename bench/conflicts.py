"""Which figures the product reports as conflicting, on a question set and across the whole corpus.

Usage:
    .venv/bin/python -m bench.conflicts --qa bench/questions/dev.jsonl   # conflicts in the answers
    .venv/bin/python -m bench.conflicts --corpus-wide                    # every figure as an anchor

``--corpus-wide`` compares every figure of every sentence with every figure of the other
documents (qa.conflicts rules 1–6), then again with the period rule (4) switched off, to
show what that rule keeps apart. Each reported pair is printed with both documents and dates.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from index.settings import load_settings
from index.store import IndexData, load_index
from qa.conflicts import Statement, find_disagreements, measure_label, statements_in
from qa.evaluate import read_questions
from qa.types import Hit


def corpus_statements(data: IndexData) -> list[Statement]:
    """The comparable figures of every sentence, each with the first chunk holding it as its passage."""
    statements = []
    for sentence in data.sentences:
        chunk = data.chunks[data.chunks_containing(sentence)[0]]
        document = data.document(sentence.doc_id)
        hit = Hit(chunk.chunk_id, chunk.doc_id, document.title, document.date, chunk.text, chunk.start, chunk.end, 0.0)
        statements.extend(statements_in(sentence, hit))
    return statements


def pairs(statements: list[Statement]) -> list[tuple[Statement, Statement]]:
    """Each contradicting (anchor, other) pair once, whichever of the two is the anchor."""
    seen, found = set(), []
    for disagreement in find_disagreements(statements, statements):
        for other in disagreement.others:
            key = frozenset({_key(disagreement.anchor), _key(other)})
            if key not in seen:
                seen.add(key)
                found.append((disagreement.anchor, other))
    return found


def _key(statement: Statement) -> tuple:
    return statement.sentence.sentence_id, statement.quantity.start


def describe(statement: Statement) -> str:
    hit = statement.hit
    return value_line(statement.quantity.text, hit.doc_id, hit.date, statement.sentence.text)


def value_line(value: str, source: str, date: str | None, sentence: str) -> str:
    return f"{value} — {source} ({date or '日期不详'}): {sentence[:70]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, help="question set: print the conflicts each answer reports")
    parser.add_argument("--corpus-wide", action="store_true", help="every figure of the corpus as an anchor")
    parser.add_argument("--index", type=Path, help="index folder (default: the configured one)")
    args = parser.parse_args(argv)
    if not (args.qa or args.corpus_wide):
        parser.error("give --qa FILE, --corpus-wide, or both")
    settings = load_settings(index_dir=args.index)
    if args.qa:
        from qa.pipeline import QAPipeline

        pipeline = QAPipeline(settings)
        questions = read_questions(args.qa)
        reported = 0
        for question in questions:
            for conflict in pipeline.ask(question.question).conflicts:
                reported += 1
                print(f"{question.id}: {conflict.measure}")
                for value in conflict.values:
                    print("    " + value_line(value["text"], value["source"], value["date"], value["sentence"]))
        print(f"{reported} conflicts reported on {len(questions)} questions of {args.qa}")
    if args.corpus_wide:
        data = load_index(settings.index_dir, model_id=settings.embedding_model)
        statements = corpus_statements(data)
        reported = pairs(statements)
        print(f"{len(statements)} figures; pairs reported as conflicts: {len(reported)}")
        print_pairs(reported)
        kept_apart = pairs([dataclasses.replace(s, period=frozenset()) for s in statements])
        print(f"without the period rule: {len(kept_apart)} pairs")
        print_pairs(kept_apart)
    return 0


def print_pairs(found: list[tuple[Statement, Statement]]) -> None:
    for anchor, other in found:
        print(f"  {measure_label(anchor)}\n    {describe(anchor)}\n    {describe(other)}")


if __name__ == "__main__":
    sys.exit(main())
