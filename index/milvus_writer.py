"""Writing an index into Milvus: a new generation switched in by one row, or documents added and
deleted in place (index.stores.StoreWriter). The layout is described in index/milvus_client.py."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from index.errors import ConfigError
from index.manifest import Manifest, manifest_from
from index.milvus_client import (
    ANALYZERS,
    DOCUMENT_FIELDS,
    DUMMY,
    KINDS,
    LAYOUT,
    PAGE_CHARS,
    QUERY_IDS,
    Connection,
    batches,
    clip_text,
    document_of,
    has_no_database,
    lexical_text,
    literal,
    manifest_of,
    read_heads,
    term_ids,
)
from index.settings import Settings
from index.store import chunks_of_sentences, span_rows
from index.stores import DocumentChanges, IndexContents, StageProgress
from index.tokens import tokenize
from index.types import Chunk, Document

INTERRUPTED = "update in place interrupted"
MAX_ID_BYTES = 2_048  # document ids (paths) longer than this cannot be stored
# bm25s' defaults (index.lexical), so a score weighs term frequency and length as the local store's.
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}
INSERT_ROWS = 512  # rows per insert call (≈ 1 MB with 384-d vectors and text)
PENDING_ROWS = 4_096  # rows made before they are inserted


class MilvusWriter:
    """Makes builds live in Milvus (index.stores.StoreWriter): in place or as a new generation."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connection: Connection | None = None

    @property
    def db(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(self.settings, writing=True)
        return self._connection

    def live_manifest(self) -> Manifest | None:
        if has_no_database(self.settings):
            return None
        live = self.db.read_live()
        if live is None:
            return None
        if live.get("layout") != LAYOUT or live.get("analyzer") != self.settings.milvus_analyzer:
            # Written by another version or with another analyzer: no document counts as indexed.
            return manifest_from({**live["manifest"], "documents": {}})
        manifest = manifest_of(live, read_heads(self.db, live["generation"], live["revision"]))
        if live.get("updating"):
            # An update in place was killed: the documents are those of the live revision, and
            # nothing is up to date until a build writes a new generation (index.build compares
            # ``metadata``; this value is never a hash).
            return replace(manifest, metadata=INTERRUPTED)
        return manifest

    def _usable(self, live: dict) -> bool:
        """True if the live generation can be updated in place: no update was killed midway
        and it has this version's layout and the configured BM25 analyzer."""
        return (
            not live.get("updating")
            and live.get("layout") == LAYOUT
            and live.get("analyzer") == self.settings.milvus_analyzer
        )

    def write(self, contents: IndexContents, changes: DocumentChanges | None, progress: StageProgress) -> None:
        _check_sizes(contents)
        live = self.db.read_live()
        if changes is not None and live is not None and self._usable(live):
            self._update_in_place(live, contents, progress)
        else:
            self._write_generation(live, contents, progress)

    # -- a new generation

    def _write_generation(self, live: dict | None, contents: IndexContents, progress: StageProgress) -> None:
        db = self.db
        generation = "g" + time.strftime("%Y%m%d%H%M%S") + f"{os.getpid():x}{time.monotonic_ns() % 10**6:05d}"
        keep = {live["generation"]} if live else set()
        for leftover in db.generations() - keep:  # killed builds, and the generation before the live one
            db.drop_generation(leftover)
        self._create_collections(generation, contents.manifest.dim)
        analyzer = self.settings.milvus_analyzer
        maker = RowMaker(contents, analyzer)
        total = len(contents.chunks) + len(contents.sentences) + len(contents.documents)
        done = 0
        progress("write", 0, total)
        pending = Rows()
        # Document by document, a few thousand rows at a time: 10^5 chunks' rows at once would
        # take ≈ 12 GB as Python objects.
        for row in range(len(contents.documents)):
            c0, _, s0, _ = maker.spans(row)
            pending.extend(maker.rows([row], c0, s0, row, revision=0))  # the build's own ids
            if len(pending) >= PENDING_ROWS or row == len(contents.documents) - 1:
                done += self._insert(generation, pending)
                progress("write", min(done, total), total)
                pending = Rows()
        terms = document_frequencies(contents.chunks, contents.manifest.lexical_tokenizer)
        self._add_frequencies(generation, terms, {})
        for kind in KINDS:
            db.call("flush", db.name(generation, kind))
        db.write_live(
            {
                "generation": generation,
                "previous": live["generation"] if live else None,
                "layout": LAYOUT,
                "revision": 0,
                "updating": False,
                "analyzer": analyzer,
                "manifest": _manifest_fields(contents.manifest),
                "next_chunk_id": len(contents.chunks),
                "next_sentence_id": len(contents.sentences),
                "next_position": len(contents.documents),
            }
        )

    def _insert(self, generation: str, rows: Rows) -> int:
        """Insert rows (documents last: one is listed once its spans are there); returns how many."""
        for kind, kind_rows in (("chunks", rows.chunks), ("sentences", rows.sentences), ("documents", rows.documents)):
            for batch in batches(kind_rows, INSERT_ROWS):
                self.db.call("insert", self.db.name(generation, kind), batch)
        return len(rows)

    def _create_collections(self, generation: str, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType

        db, client = self.db, self.db.client
        text = {"datatype": DataType.VARCHAR, "max_length": 65_535}
        doc_id = {"datatype": DataType.VARCHAR, "max_length": MAX_ID_BYTES}

        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", **doc_id)
        for name in ("start", "end", "sentence_first", "sentence_stop", "revision"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("title", **text)
        schema.add_field("date", DataType.VARCHAR, max_length=64)
        schema.add_field("text", **text)
        analyzer = ANALYZERS[self.settings.milvus_analyzer]
        schema.add_field("lexical", **text, enable_analyzer=True, analyzer_params=analyzer)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["lexical"],
                output_field_names=["sparse"],
            )
        )
        db.create(
            db.name(generation, "chunks"),
            schema,
            [("vector", "AUTOINDEX", "IP", {}), ("sparse", "SPARSE_INVERTED_INDEX", "BM25", BM25_PARAMS)],
        )

        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", **doc_id)
        for name in ("start", "end", "chunk_first", "chunk_stop", "revision"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("text", **text)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        db.create(db.name(generation, "sentences"), schema, [("vector", "AUTOINDEX", "IP", {})])

        schema = client.create_schema(auto_id=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=MAX_ID_BYTES + 16)
        schema.add_field("doc_id", **doc_id)
        for name in ("page", "position", "chunks", "revision"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("meta", **text)
        schema.add_field("text", **text)
        schema.add_field("pages", **text)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        db.create(db.name(generation, "documents"), schema, [("v", "FLAT", "L2", {})])

        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("df", DataType.INT64)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        db.create(db.name(generation, "terms"), schema, [("v", "FLAT", "L2", {})])

    def _add_frequencies(self, generation: str, delta: Counter, current: dict[int, int]) -> None:
        """Write document frequencies: ``current`` (by term id) plus ``delta`` (by token); zeros deleted."""
        tokens = list(delta)
        ids = term_ids(tokens)
        merged: dict[int, int] = dict(current)
        for term_id, token in zip(ids, tokens):
            merged[term_id] = merged.get(term_id, 0) + delta[token]
        name = self.db.name(generation, "terms")
        gone = [term_id for term_id, df in merged.items() if df <= 0]
        rows = [{"id": term_id, "df": df, "v": DUMMY} for term_id, df in merged.items() if df > 0]
        for batch in batches(rows, 4 * INSERT_ROWS):
            self.db.call("upsert" if current else "insert", name, batch)
        for batch in batches(gone, QUERY_IDS):
            self.db.call("delete", name, filter=f"id in {batch}")

    # -- in place

    def _update_in_place(self, live: dict, contents: IndexContents, progress: StageProgress) -> None:
        """Insert the rows of new and changed documents under the next revision, then delete the
        rows of changed and removed ones, then make the next revision the live one."""
        db = self.db
        generation, revision = live["generation"], live["revision"]
        visible = f"revision <= {int(revision)}"
        heads = {row["doc_id"]: row for row in read_heads(db, generation, revision)}
        wanted = {doc.doc_id: (row, doc) for row, doc in enumerate(contents.documents)}
        fresh = [
            row
            for doc_id, (row, doc) in wanted.items()
            if doc_id not in heads or json.loads(heads[doc_id]["meta"]) != _document_meta(doc)
        ]
        stale = [doc_id for doc_id in heads if doc_id not in wanted or wanted[doc_id][0] in fresh]
        if not fresh and not stale:
            db.write_live({**live, "manifest": _manifest_fields(contents.manifest), "revision": live["revision"] + 1})
            return
        db.write_live({**live, "updating": True})
        maker = RowMaker(contents, live["analyzer"])
        total = len(fresh) + len(stale) + 1
        done = 0
        progress("write", 0, total)
        method = contents.manifest.lexical_tokenizer
        delta: Counter = Counter()
        for doc_id in stale:  # their chunks' tokens no longer count
            for text in self._chunk_texts(generation, doc_id, visible):
                delta.subtract(set(tokenize(text, method) or [""]))
        for row in fresh:
            first, stop, _, _ = maker.spans(row)
            delta.update(document_frequencies(contents.chunks[first:stop], method))
        # Document by document, as a new generation is written: the rows of every changed
        # document at once would hold all their texts and vectors as Python objects.
        added_chunks = added_sentences = 0
        pending = Rows()
        for position, row in enumerate(fresh):
            pending.extend(
                maker.rows(
                    [row],
                    live["next_chunk_id"] + added_chunks,
                    live["next_sentence_id"] + added_sentences,
                    live["next_position"] + position,
                    revision + 1,
                )
            )
            c0, c1, s0, s1 = maker.spans(row)
            added_chunks, added_sentences = added_chunks + c1 - c0, added_sentences + s1 - s0
            if len(pending) >= PENDING_ROWS or position == len(fresh) - 1:
                self._insert(generation, pending)
                pending = Rows()
            done += 1
            progress("write", done, total)
        for batch in batches(stale, 64):
            names = "[" + ", ".join(literal(d) for d in batch) + "]"
            for kind in ("chunks", "sentences", "documents"):  # spans first: a listed document keeps its text
                db.call("delete", db.name(generation, kind), filter=f"doc_id in {names} and {visible}")
            done += len(batch)
            progress("write", done, total)
        delta = Counter({token: count for token, count in delta.items() if count})
        ids = term_ids(list(delta))
        current: dict[int, int] = {}
        for batch in batches(ids, QUERY_IDS):
            found = db.call("query", db.name(generation, "terms"), filter=f"id in {batch}", output_fields=["df"])
            current.update((row["id"], int(row["df"])) for row in found)
        self._add_frequencies(generation, delta, {i: current.get(i, 0) for i in ids})
        db.write_live(
            {
                **live,
                "updating": False,
                "revision": live["revision"] + 1,
                "manifest": _manifest_fields(contents.manifest),
                "next_chunk_id": live["next_chunk_id"] + added_chunks,
                "next_sentence_id": live["next_sentence_id"] + added_sentences,
                "next_position": live["next_position"] + len(fresh),
            }
        )
        progress("write", total, total)

    def _chunk_texts(self, generation: str, doc_id: str, visible: str) -> list[str]:
        rows = self.db.call(
            "query",
            self.db.name(generation, "chunks"),
            filter=f"doc_id == {literal(doc_id)} and {visible}",
            output_fields=["text", "start", "end"],
        )
        clipped = any(len(r["text"]) != r["end"] - r["start"] for r in rows)
        if clipped:
            pages = self.db.call(
                "query",
                self.db.name(generation, "documents"),
                filter=f"doc_id == {literal(doc_id)} and {visible}",
                output_fields=DOCUMENT_FIELDS,
            )
            text = document_of(pages).text
            return [text[r["start"] : r["end"]] for r in rows]
        return [r["text"] for r in rows]


def document_frequencies(chunks: Iterable[Chunk], method: str) -> Counter:
    """In how many chunks each token occurs (as bm25s counts them: an empty chunk has the token "")."""
    df: Counter = Counter()
    for chunk in chunks:
        df.update(set(tokenize(chunk.text, method) or [""]))
    return df


def _document_meta(doc: Document) -> dict:
    """What the store lists of a document; ``paged``: its spans have pages (a PDF or a picture)."""
    return {
        "title": doc.title,
        "date": doc.date,
        "author": doc.author,
        "hash": doc.content_hash,
        "paged": bool(doc.page_starts),
    }


def page_rows(doc: Document) -> list[str]:
    """Per stored page of ``doc``'s text (PAGE_CHARS each), the page starts and OCR-read pages
    that fall in it, as JSON: ``index.milvus_client.document_of`` joins them back."""
    count = len(range(0, max(len(doc.text), 1), PAGE_CHARS))
    held: list[dict[str, list[int]]] = [{"starts": [], "ocr": []} for _ in range(count)]
    ocr = set(doc.ocr_pages)
    for number, start in enumerate(doc.page_starts, start=1):
        row = held[min(start // PAGE_CHARS, count - 1)]
        row["starts"].append(start)
        if number in ocr:
            row["ocr"].append(number)
            ocr.discard(number)
    held[-1]["ocr"].extend(sorted(ocr))  # numbers past the last start, if any: kept as they were
    return [json.dumps(row) for row in held]


def _manifest_fields(manifest: Manifest) -> dict:
    fields = asdict(manifest)
    fields.pop("documents")
    return fields


def _check_sizes(contents: IndexContents) -> None:
    for doc in contents.documents:
        if len(doc.doc_id.encode("utf-8")) > MAX_ID_BYTES:
            raise ConfigError(
                f"文件路径过长，Milvus 无法保存：{doc.doc_id[:80]}…。 the document id {doc.doc_id[:80]}… is longer "
                f"than the {MAX_ID_BYTES} bytes Milvus can store; use a shorter file name"
            )


@dataclass
class Rows:
    """Rows ready to insert, by collection."""

    chunks: list[dict] = field(default_factory=list)
    sentences: list[dict] = field(default_factory=list)
    documents: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.chunks) + len(self.sentences) + len(self.documents)

    def extend(self, other: Rows) -> None:
        self.chunks.extend(other.chunks)
        self.sentences.extend(other.sentences)
        self.documents.extend(other.documents)


class RowMaker:
    """Makes the rows of a build's documents, their chunks and their sentences.

    Args:
        contents: the build (documents in order, each one's spans in text order).
        analyzer: what the BM25 function is given (milvus_client.ANALYZERS).
    """

    def __init__(self, contents: IndexContents, analyzer: str) -> None:
        self.contents = contents
        self.analyzer = analyzer
        documents = contents.documents
        doc_rows = {d.doc_id: i for i, d in enumerate(documents)}
        chunk_rows = span_rows(contents.chunks, doc_rows)
        sentence_rows = span_rows(contents.sentences, doc_rows)
        self.chunk_ranges = chunks_of_sentences(chunk_rows, sentence_rows)  # per sentence: its chunks
        self.sentence_ranges = chunks_of_sentences(sentence_rows, chunk_rows)  # per chunk: its sentences
        self.chunk_firsts = np.searchsorted(chunk_rows[:, 0], np.arange(len(documents) + 1))
        self.sentence_firsts = np.searchsorted(sentence_rows[:, 0], np.arange(len(documents) + 1))

    def spans(self, row: int) -> tuple[int, int, int, int]:
        """(first chunk, chunk after the last, first sentence, sentence after the last) of document ``row``."""
        return (
            int(self.chunk_firsts[row]),
            int(self.chunk_firsts[row + 1]),
            int(self.sentence_firsts[row]),
            int(self.sentence_firsts[row + 1]),
        )

    def rows(
        self, document_rows: Iterable[int], chunk_base: int, sentence_base: int, position_base: int, revision: int
    ) -> Rows:
        """Rows of some documents (rows of ``contents.documents``), their chunks and sentences
        numbered on from the bases, each document's consecutively, all of ``revision``. A
        document's own first chunk and sentence rows as bases keep the build's ids (a new
        generation numbers spans as the local store does)."""
        contents, out = self.contents, Rows()
        method = contents.manifest.lexical_tokenizer
        next_chunk, next_sentence = chunk_base, sentence_base
        for position, row in enumerate(document_rows):
            doc = contents.documents[row]
            c0, c1, s0, s1 = self.spans(row)
            shift_c, shift_s = next_chunk - c0, next_sentence - s0
            for i in range(c0, c1):
                chunk = contents.chunks[i]
                out.chunks.append(
                    {
                        "id": i + shift_c,
                        "doc_id": doc.doc_id,
                        "start": chunk.start,
                        "end": chunk.end,
                        "sentence_first": int(self.sentence_ranges[i, 0]) + shift_s,
                        "sentence_stop": int(self.sentence_ranges[i, 1]) + shift_s,
                        "revision": revision,
                        "title": clip_text(doc.title),
                        "date": doc.date or "",
                        "text": clip_text(chunk.text),
                        "lexical": clip_text(lexical_text(chunk.text, self.analyzer, method)),
                        "vector": np.asarray(contents.chunk_vectors[i], dtype=np.float32),
                    }
                )
            for i in range(s0, s1):
                sentence = contents.sentences[i]
                out.sentences.append(
                    {
                        "id": i + shift_s,
                        "doc_id": doc.doc_id,
                        "start": sentence.start,
                        "end": sentence.end,
                        "chunk_first": int(self.chunk_ranges[i, 0]) + shift_c,
                        "chunk_stop": int(self.chunk_ranges[i, 1]) + shift_c,
                        "revision": revision,
                        "text": clip_text(sentence.text),
                        "vector": np.asarray(contents.sentence_vectors[i], dtype=np.float32),
                    }
                )
            meta = json.dumps(_document_meta(doc), ensure_ascii=False)
            pages = page_rows(doc)
            for page, begin in enumerate(range(0, max(len(doc.text), 1), PAGE_CHARS)):
                out.documents.append(
                    {
                        "key": f"{doc.doc_id}#{page}",
                        "doc_id": doc.doc_id,
                        "page": page,
                        "position": position_base + position,
                        "chunks": c1 - c0,
                        "revision": revision,
                        "meta": meta,
                        "text": doc.text[begin : begin + PAGE_CHARS],
                        "pages": pages[page],
                        "v": DUMMY,
                    }
                )
            next_chunk += c1 - c0
            next_sentence += s1 - s0
        return out
