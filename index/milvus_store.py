"""Reading an index in Milvus: the store interface (index.stores.Store) over the live generation.

The layout, the switch and the revisions are described in index/milvus_client.py. A reader
checks the live row before each question (``is_stale``) and follows a new generation or
revision; it searches only rows of its own revision, and keeps what it fetched (rows by id,
documents, term weights) for as long as it is the live one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from index.errors import IndexMismatchError, IndexMissingError
from index.manifest import Manifest, check_compatible
from index.milvus_client import (
    DOCUMENT_FIELDS,
    LAYOUT,
    LIVE,
    QUERY_IDS,
    Connection,
    batches,
    changed_meanwhile,
    document_of,
    floats,
    has_no_database,
    lexical_text,
    literal,
    manifest_of,
    read_heads,
    term_ids,
)
from index.settings import Settings
from index.stores import Candidates, DocumentHead, index_location
from index.tokens import WORD_CHARS, bm25_idf, tokenize
from index.types import Chunk, Document, Sentence

SpanT = TypeVar("SpanT", Chunk, Sentence)

# Searches of one question run at once; two pipeline workers make at most six.
_searches = ThreadPoolExecutor(max_workers=6, thread_name_prefix="milvus-search")
RANGES_PER_QUERY = 32  # id ranges OR-ed in one filter (milvus-lite refuses much deeper expressions)
MAX_SEARCH = 16_384  # Milvus' largest top-k
CACHE_ROWS = 50_000  # rows a reader keeps before it starts again with an empty cache
DOCUMENT_CACHE = 64  # documents a reader keeps (a question touches at most ten)
NO_SENTENCES = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32), np.empty((0, 2), dtype=np.int64))
CHUNK_FIELDS = ["id", "doc_id", "start", "end", "text", "sentence_first", "sentence_stop", "vector"]
SENTENCE_FIELDS = ["id", "doc_id", "start", "end", "text", "chunk_first", "chunk_stop", "vector"]
FOLLOWING_FIELDS = ["id", "doc_id", "start", "end", "text"]  # no vectors: numbered items are read, not scored


class MilvusStore:
    """The store interface (index.stores.Store) over the live generation in Milvus."""

    def __init__(self, connection: Connection, live: dict, manifest: Manifest, heads: list[dict]) -> None:
        self.db = connection
        self.live = live
        self.manifest = manifest
        self.tokenizer = manifest.lexical_tokenizer
        self.analyzer = live["analyzer"]
        # Rows a later update in place is writing have a higher revision: not seen until it is done.
        self.visible = f"revision <= {int(live['revision'])}"
        generation = live["generation"]
        self.chunks_name = connection.name(generation, "chunks")
        self.sentences_name = connection.name(generation, "sentences")
        self.documents_name = connection.name(generation, "documents")
        self.terms_name = connection.name(generation, "terms")
        self._heads = {row["doc_id"]: row for row in heads}
        self._chunk_rows: dict[int, dict] = {}
        self._sentence_rows: dict[int, dict] = {}
        self._sentences_of: dict[int, list[int]] = {}
        self._documents: dict[str, Document] = {}
        self._weights: dict[str, float] = {}
        self._following: dict[int, dict | None] = {}  # sentence rows without vectors, by id
        self._lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings) -> MilvusStore:
        """The live generation (the same errors as index.stores.open_store)."""
        connection = None if has_no_database(settings) else Connection(settings)
        live = connection.read_live() if connection else None
        if connection is None or live is None:
            raise IndexMissingError(
                f"{index_location(settings)} 中还没有索引；请运行 policyqa index。 "
                f"no index in {index_location(settings)}; build one with `policyqa index`"
            )
        if live.get("layout") != LAYOUT:
            raise IndexMismatchError(
                f"{index_location(settings)} 中的索引由另一版本写入，请运行 policyqa index --force 重建。 "
                f"the index in {index_location(settings)} was written by another version; rebuild it with "
                "`policyqa index --force`"
            )
        heads = read_heads(connection, live["generation"], live["revision"])
        manifest = manifest_of(live, heads)
        check_compatible(manifest, settings.embedding_model)
        return cls(connection, live, manifest, heads)

    def is_stale(self) -> bool:
        rows = self.db.call("query", self.db.meta, filter=f"key == {literal(LIVE)}", output_fields=["value"])
        if not rows:
            return True
        live = json.loads(rows[0]["value"])
        return (live["generation"], live["revision"]) != (self.live["generation"], self.live["revision"])

    # -- search

    def search_chunks(self, query_vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._search(self.chunks_name, "vector", [floats(query_vector)], n, "IP", [])[:2]

    def search_sentences(self, query_vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids, scores, rows = self._search(
            self.sentences_name, "vector", [floats(query_vector)], n, "IP", ["chunk_first", "chunk_stop"]
        )
        ranges = np.array([(r["chunk_first"], r["chunk_stop"]) for r in rows], dtype=np.int64).reshape(-1, 2)
        return ids, scores, ranges

    def search_lexical(self, text: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """BM25 from Milvus' own function, over the analyzer's tokens of the text (``ANALYZERS``)."""
        query = lexical_text(text, self.analyzer, self.tokenizer)
        if not WORD_CHARS.search(query):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        ids, scores, _ = self._search(self.chunks_name, "sparse", [query], n, "BM25", [])
        return bm25_magnitudes(ids, scores)

    def search(self, query_vector: np.ndarray, text: str, n: int, sentences: int) -> Candidates:
        """The three searches at once (each waits on the server, not on this process)."""
        dense = _searches.submit(self.search_chunks, query_vector, n)
        lexical = _searches.submit(self.search_lexical, text, n)
        found = self.search_sentences(query_vector, sentences) if sentences else NO_SENTENCES
        return Candidates(dense.result(), lexical.result(), found)

    def _search(
        self, collection: str, field: str, data: list, n: int, metric: str, fields: list[str]
    ) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        n = min(n, MAX_SEARCH)
        if n <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32), []
        found = self.db.call(
            "search",
            collection,
            data=data,
            anns_field=field,
            limit=n,
            search_params={"metric_type": metric},
            output_fields=fields,
            filter=self.visible,
        )[0]
        ids = np.array([hit["id"] for hit in found], dtype=np.int64)
        scores = np.array([hit["distance"] for hit in found], dtype=np.float32)
        rows = [hit.get("entity", {}) for hit in found]
        if metric != "BM25":
            # Equal scores (a sentence repeated in two documents) in id order, as the local store ranks them.
            order = np.lexsort((ids, -scores))
            ids, scores, rows = ids[order], scores[order], [rows[i] for i in order]
        return ids, scores, rows

    # -- fetching

    def chunks(self, ids: Sequence[int]) -> list[Chunk]:
        rows = self._rows(self._chunk_rows, self.chunks_name, ids, CHUNK_FIELDS)
        return [self._span(rows[int(i)], Chunk) for i in ids]

    def head(self, doc_id: str) -> DocumentHead:
        row = self._heads[doc_id]
        meta = json.loads(row["meta"])
        return DocumentHead(doc_id, meta["title"], meta["date"])

    def chunk_vectors(self, ids: Sequence[int]) -> np.ndarray:
        rows = self._rows(self._chunk_rows, self.chunks_name, ids, CHUNK_FIELDS)
        return np.array([rows[int(i)]["vector"] for i in ids], dtype=np.float32).reshape(len(ids), self.manifest.dim)

    def sentences_in(self, chunk: Chunk) -> list[Sentence]:
        self.prefetch([chunk.chunk_id], ())
        ids = self._sentences_of[chunk.chunk_id]
        rows = self._rows(self._sentence_rows, self.sentences_name, ids, SENTENCE_FIELDS)
        found = [self._span(rows[i], Sentence) for i in ids]
        return [s for s in found if s.end > chunk.start and s.start < chunk.end]

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        rows = self._rows(self._sentence_rows, self.sentences_name, ids, SENTENCE_FIELDS)
        return np.array([rows[int(i)]["vector"] for i in ids], dtype=np.float32).reshape(len(ids), self.manifest.dim)

    def chunks_holding(self, sentence: Sentence) -> list[int]:
        row = self._rows(self._sentence_rows, self.sentences_name, [sentence.sentence_id], SENTENCE_FIELDS)
        found = row[sentence.sentence_id]
        return list(range(found["chunk_first"], found["chunk_stop"]))

    def sentences_after(self, sentence: Sentence, n: int) -> list[Sentence]:
        """The run of ids after the sentence's, while they are of its document (ids are
        consecutive within a document; one replaced in place gets new ones, leaving a gap).

        Rows come from what earlier calls fetched; from the first id not fetched yet to the
        end of the ``n``, one query (list questions ask this of every evidence sentence).
        """
        found: list[Sentence] = []
        last = sentence.sentence_id + n
        for sentence_id in range(sentence.sentence_id + 1, last + 1):
            if sentence_id not in self._following:
                self._fetch_following(sentence_id, last)
            row = self._following[sentence_id]
            if row is None or row["doc_id"] != sentence.doc_id:
                break
            found.append(self._span(row, Sentence))
        return found

    def _fetch_following(self, first: int, last: int) -> None:
        """Rows of sentences ``first``..``last`` (without vectors); None for ids that have none."""
        rows = self.db.call(
            "query",
            self.sentences_name,
            filter=f"id >= {first} and id <= {last} and {self.visible}",
            output_fields=FOLLOWING_FIELDS,
        )
        by_id = {int(row["id"]): row for row in rows}
        with self._lock:
            if len(self._following) > CACHE_ROWS:
                self._following.clear()
            for sentence_id in range(first, last + 1):
                self._following[sentence_id] = by_id.get(sentence_id)

    def document(self, doc_id: str) -> Document:
        cached = self._documents.get(doc_id)
        if cached is not None:
            return cached
        rows = self.db.call(
            "query",
            self.documents_name,
            filter=f"doc_id == {literal(doc_id)} and {self.visible}",
            output_fields=DOCUMENT_FIELDS,
        )
        if not rows:
            if doc_id in self._heads:
                raise changed_meanwhile()
            raise KeyError(doc_id)
        document = document_of(rows)
        with self._lock:
            if len(self._documents) >= DOCUMENT_CACHE:
                self._documents.clear()
            self._documents[doc_id] = document
        return document

    def heads(self) -> list[DocumentHead]:
        return [self.head(doc_id) for doc_id in self._heads]

    def chunk_counts(self) -> dict[str, int]:
        return {doc_id: int(row["chunks"]) for doc_id, row in self._heads.items()}

    def term_weight(self, token: str) -> float:
        weight = self._weights.get(token)
        if weight is None:
            self._fetch_weights([token])
            weight = self._weights[token]
        return weight

    def prefetch(self, chunk_ids: Sequence[int], texts: Sequence[str]) -> None:
        """One query for the sentences (with vectors) of the chunks not yet seen, one for the
        weights of the texts' tokens not yet known."""
        missing = [int(c) for c in dict.fromkeys(chunk_ids) if int(c) not in self._sentences_of]
        if missing:
            rows = self._rows(self._chunk_rows, self.chunks_name, missing, CHUNK_FIELDS)
            spans = [(c, rows[c]["sentence_first"], rows[c]["sentence_stop"]) for c in missing if c in rows]
            wanted = [i for _, first, stop in spans for i in range(first, stop) if i not in self._sentence_rows]
            # Neighbouring chunks share sentences: their ranges merge into a few runs.
            for batch in batches(merged_runs(wanted), RANGES_PER_QUERY):
                ranges = " or ".join(f"(id >= {first} and id < {stop})" for first, stop in batch)
                found = self.db.call("query", self.sentences_name, filter=ranges, output_fields=SENTENCE_FIELDS)
                self._remember(self._sentence_rows, found)
            with self._lock:
                for chunk_id, first, stop in spans:
                    self._sentences_of[chunk_id] = list(range(first, stop))
        tokens = {t for text in texts for t in tokenize(text, self.tokenizer)}
        self._fetch_weights([t for t in tokens if t not in self._weights])

    def _fetch_weights(self, tokens: list[str]) -> None:
        if not tokens:
            return
        ids = term_ids(tokens)
        frequencies: dict[int, int] = {}
        for begin in range(0, len(ids), QUERY_IDS):
            batch = ids[begin : begin + QUERY_IDS]
            rows = self.db.call("query", self.terms_name, filter=f"id in {batch}", output_fields=["df"])
            frequencies.update((row["id"], int(row["df"])) for row in rows)
        total = self.manifest.chunk_count
        with self._lock:
            for token, term_id in zip(tokens, ids):
                df = frequencies.get(term_id, 0)
                self._weights[token] = bm25_idf(df, total) if df else 0.0

    def _rows(self, cache: dict[int, dict], collection: str, ids: Iterable[int], fields: list[str]) -> dict[int, dict]:
        """Rows by id from the cache, fetching the missing ones in one query."""
        wanted = [int(i) for i in ids]
        missing = list(dict.fromkeys(i for i in wanted if i not in cache))
        for begin in range(0, len(missing), QUERY_IDS):
            batch = missing[begin : begin + QUERY_IDS]
            self._remember(cache, self.db.call("query", collection, filter=f"id in {batch}", output_fields=fields))
        if any(i not in cache for i in wanted):
            raise changed_meanwhile()  # rows found a moment ago were deleted by an update in place
        return {i: cache[i] for i in wanted}

    def _remember(self, cache: dict[int, dict], rows: list[dict]) -> None:
        with self._lock:
            if len(cache) + len(rows) > CACHE_ROWS:
                cache.clear()
                self._sentences_of.clear()
            for row in rows:
                cache[int(row["id"])] = row

    def _span(self, row: dict, record: type[SpanT]) -> SpanT:
        text = row["text"]
        start, end = int(row["start"]), int(row["end"])
        if len(text) != end - start:  # clipped to fit its field: the document has it whole
            text = self.document(row["doc_id"]).text[start:end]
        head = self._heads.get(row["doc_id"])
        page = None
        if head is not None and json.loads(head["meta"]).get("paged"):  # a PDF or picture: the local store's page
            page = self.document(row["doc_id"]).page_at(start)
        return record(int(row["id"]), row["doc_id"], start, end, text, page)


def merged_runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Runs (first, stop) of consecutive ids, in order."""
    runs: list[list[int]] = []
    for i in sorted(set(ids)):
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return [(first, stop) for first, stop in runs]


def bm25_magnitudes(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BM25 results as the store interface gives them: scores ≥ 0, best first, zeros left out.

    Milvus promises nothing about the sign or scale of BM25 scores across versions (issue 13):
    they are taken as magnitudes in the order returned (best first). Their scale cancels out of
    what is used: fusion min-max normalizes each list, and the answer model's passage_lexical
    divides by the best passage's score. (Over the product's tokens, Milvus 2.5's scores are the
    local store's times k1 + 1, which bm25s leaves out.)
    """
    magnitudes = np.abs(np.asarray(scores, dtype=np.float32))
    keep = magnitudes > 0
    return np.asarray(ids, dtype=np.int64)[keep], magnitudes[keep]
