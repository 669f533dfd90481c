"""What an index was built from and with: the manifest every store keeps beside its data."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields

from index.errors import IndexMismatchError

FORMAT_VERSION = 1
FLAT = "flat"


@dataclass(frozen=True)
class Manifest:
    """What an index was built from and with."""

    format_version: int
    model_id: str
    dim: int
    query_prefix: str
    passage_prefix: str
    chunk_size: int
    chunk_overlap: int
    lexical_tokenizer: str
    documents: dict[str, str]  # doc id → content hash
    chunk_count: int
    sentence_count: int
    cleaning_version: int = 0
    built_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))
    # Kinds of vector index (index.vectors); manifests older than these fields mean "flat".
    dense_index: str = FLAT
    sentence_index: str = FLAT
    # Hash of the titles and dates set in the 知识库 tab (index.metadata); "" for none.
    metadata: str = ""
    # How scanned pages were read (index.ocr.ocr_fingerprint); "" before OCR existed.
    ocr: str = ""


def manifest_from(values: dict) -> Manifest:
    """A manifest from its JSON object; fields it does not know are ignored (older and newer versions)."""
    known = {f.name for f in fields(Manifest)}
    return Manifest(**{k: v for k, v in values.items() if k in known})


def check_compatible(manifest: Manifest, model_id: str) -> None:
    """Raise IndexMismatchError if the index cannot serve queries embedded with ``model_id``."""
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"the index was written in format {manifest.format_version}, this version reads format "
            f"{FORMAT_VERSION}; rebuild it with `policyqa index`"
        )
    if manifest.model_id != model_id:
        raise IndexMismatchError(
            f"the index was built with the embedding model {manifest.model_id!r} but {model_id!r} is "
            "configured; rebuild it with `policyqa index` or configure the index's model"
        )
