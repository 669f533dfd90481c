"""What every answer strategy (extractive, generated) takes and gives back.

A strategy gets the question's analysis and a read-only view of the evidence (qa.evidence)
and returns a ``Draft``: the answer text with its [n] markers and what each marker cites, or
a refusal. The pipeline then checks the figures and reports conflicts, whoever wrote it.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from qa.evidence import Evidence
from qa.query import QuestionInfo
from qa.types import Citation


@dataclass(frozen=True)
class Draft:
    """An answer before its figures are checked and conflicts reported."""

    text: str
    citations: tuple[Citation, ...]
    snippets: dict[int, str]  # marker → the source text it cites
    answered: bool
    notes: tuple[str, ...] = ()
    confidence: float = 0.0  # the answer model's probability for the best sentence (extractive)
    # a generated answer's speed: "llm_first_token" (ms) and "llm_tokens_per_s"
    timings_ms: dict[str, float] = field(default_factory=dict)


class AnswerStrategy(Protocol):
    """Writes the answer to one question from its evidence."""

    def stream(
        self, info: QuestionInfo, evidence: Evidence, part_vectors: Sequence[np.ndarray]
    ) -> Generator[str, None, Draft]:
        """Yield text pieces as they are written (possibly none), then return the Draft.

        Raises:
            LLMError: a generated answer failed; the pipeline falls back to the extractive one.
        """
        ...
