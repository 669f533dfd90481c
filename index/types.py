"""The records that travel between the indexing stages."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    """A cleaned document: its text is what offsets point into and what the viewer shows."""

    doc_id: str  # path relative to the corpus folder, with forward slashes
    title: str
    date: str | None  # ISO date (YYYY-MM-DD) when one was found
    author: str | None
    text: str
    content_hash: str  # sha256 of the raw file bytes


@dataclass(frozen=True)
class Chunk:
    """A span of a document's cleaned text: ``doc.text[start:end] == text``."""

    chunk_id: int
    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document, for the extractive answerer: ``doc.text[start:end] == text``."""

    sentence_id: int
    doc_id: str
    start: int
    end: int
    text: str
