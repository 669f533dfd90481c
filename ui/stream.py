"""How an answer reaches the screen piece by piece.

``answer_stream`` is the one place that decides where pieces come from: the
pipeline's own ``ask_stream`` (an LLM's tokens) when the core offers it, or else
the finished extractive answer replayed sentence by sentence. Either way the
chat sees text pieces followed by the authoritative ``Answer``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from qa.text import answer_sentences
from qa.types import Answer

SENTENCE_END = re.compile(r"(?:[。！？!?；;][”’」』）)]*(?:\[\d+\])*|\n)$")


def answer_pieces(text: str) -> Iterator[str]:
    """The sentences of an answer in order, each with its citation markers; they join to ``text``."""
    for start, end in answer_sentences(text):
        yield text[start:end]


def ends_sentence(text: str) -> bool:
    """True if the text shown so far ends at a sentence end (a good moment to pause the display)."""
    return bool(SENTENCE_END.search(text))


def answer_stream(pipeline, question: str, history: Sequence[object] | None = None) -> Iterator[str | Answer]:
    """Text pieces as they are composed, then the final Answer (whose text is what counts).

    Raises:
        QuestionError: as ``QAPipeline.ask``, when the first piece is requested.
    """
    ask_stream = getattr(pipeline, "ask_stream", None)
    if ask_stream is not None:
        yield from ask_stream(question, history=history)
        return
    answer = pipeline.ask(question, history=history)
    yield from answer_pieces(answer.text)
    yield answer
