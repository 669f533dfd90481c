"""Titles and dates set by a person, kept beside the documents instead of editing them.

    <corpus_dir>/.policyqa-metadata.json   {"<doc id>": {"title": "…", "date": "YYYY-MM-DD"}, …}

The cleaner guesses a title and date from each file (index.clean); where it guesses wrong
(a title taken from a heading, a date it cannot find) the 知识库 tab sets them here. A build
applies them to the loaded documents, so answers, citation cards and the viewer all show
them; the manifest records their hash, so changing one makes the next build run (with every
vector from the embedding cache: titles are not embedded). The file is hidden (a dot-file),
so it is never read as a document, and written atomically.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
import tempfile
import unicodedata
from pathlib import Path

from index.errors import DocumentError
from index.types import Document

FILE_NAME = ".policyqa-metadata.json"
MAX_TITLE_CHARS = 200
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def metadata_path(corpus_dir: Path) -> Path:
    """Where the overrides of a corpus folder live."""
    return Path(corpus_dir) / FILE_NAME


def read_overrides(corpus_dir: Path) -> dict[str, dict[str, str]]:
    """doc id → {"title"?, "date"?}; empty when there is no file or it cannot be read."""
    try:
        data = json.loads(metadata_path(corpus_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        doc_id: {k: v for k, v in entry.items() if k in ("title", "date") and isinstance(v, str) and v}
        for doc_id, entry in data.items()
        if isinstance(doc_id, str) and isinstance(entry, dict)
    }


def overrides_hash(overrides: dict[str, dict[str, str]]) -> str:
    """A short hash of the overrides for the manifest ("" for none, as indexes built before them)."""
    if not any(overrides.values()):
        return ""
    return hashlib.sha256(json.dumps(overrides, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def apply_overrides(documents: list[Document], overrides: dict[str, dict[str, str]]) -> list[Document]:
    """The documents with their set titles and dates."""
    return [_overridden(d, overrides[d.doc_id]) if overrides.get(d.doc_id) else d for d in documents]


def _overridden(document: Document, override: dict[str, str]) -> Document:
    return dataclasses.replace(
        document, title=override.get("title", document.title), date=override.get("date", document.date)
    )


def check_title(title: str) -> str:
    """A title as it will be stored: one line, no control characters.

    Raises:
        DocumentError: it is empty or too long.
    """
    cleaned = " ".join("".join(ch for ch in str(title) if unicodedata.category(ch)[0] != "C").split())
    if not cleaned:
        raise DocumentError("标题不能为空。")
    if len(cleaned) > MAX_TITLE_CHARS:
        raise DocumentError(f"标题太长（{len(cleaned)} 字），请控制在 {MAX_TITLE_CHARS} 字以内。")
    return cleaned


def check_date(date: str) -> str:
    """A date as it will be stored: ``YYYY-MM-DD`` (full-width digits and 2024/5/6 are accepted), or "".

    Raises:
        DocumentError: it is not a real calendar date.
    """
    text = unicodedata.normalize("NFKC", str(date)).strip()
    if not text:
        return ""
    parts = re.split(r"[-/.年月日]+", text.rstrip("日"))
    try:
        year, month, day = (int(p) for p in parts)
        return datetime.date(year, month, day).isoformat()
    except (ValueError, TypeError):
        raise DocumentError(f"日期“{date}”不对，请写成 2021-02-25 这样的格式（年-月-日），或留空。") from None


def write_override(corpus_dir: Path, doc_id: str, title: str | None, date: str | None) -> None:
    """Set (or, with None for both, remove) a document's title and date; written atomically."""
    overrides = read_overrides(corpus_dir)
    entry = {k: v for k, v in (("title", title), ("date", date)) if v}
    if entry:
        overrides[doc_id] = entry
    else:
        overrides.pop(doc_id, None)
    path = metadata_path(corpus_dir)
    fd, tmp = tempfile.mkstemp(prefix=".metadata-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(overrides, out, ensure_ascii=False, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
