"""The Milvus store's layout and its connection: the index as collections in Milvus (an embedded
milvus-lite file, a standalone server or a cluster; index.milvus_store reads it, index.milvus_writer
writes it).

Collections, for ``milvus_prefix = "policyqa"`` and a generation ``g<stamp>``::

    policyqa_meta            one row "live": the live generation, the one before it, the live
                             revision, the layout version, the BM25 analyzer, the manifest
                             (index.manifest) without its document list, the next free ids
    policyqa_g<stamp>_chunks     id, doc_id, start, end, title, date, text, the sentence ids it
                                 overlaps, revision, its 384-d vector (AUTOINDEX, inner product),
                                 and ``lexical`` → Milvus' BM25 function (ANALYZERS) → sparse vector
    policyqa_g<stamp>_sentences  id, doc_id, start, end, text, the chunk ids holding it, revision,
                                 vector
    policyqa_g<stamp>_documents  a document's cleaned text in pages of PAGE_CHARS, with its title,
                                 date, author, content hash, order, chunk count and revision; a
                                 PDF's or picture's page starts (and OCR-read pages) that fall in
                                 each such page, so no field outgrows its size
    policyqa_g<stamp>_terms      document frequency of each index.tokens token (by 63-bit hash),
                                 for term weights (idf) that mean what the local store's mean

Chunk and sentence ids of a new generation are the build's own (the local store's); a
document added in place gets the next free ids, consecutive within the document.

A **rebuild** writes a new generation's collections, then replaces the one "live" row: that
upsert is the atomic switch (milvus-lite 2.5.1 answers UNIMPLEMENTED to aliases and to
renaming collections, and four aliases could not switch together anyway). A build killed at
any point leaves the previous generation live; the next build drops what it left. The
generation before the live one is kept until the next switch, so a process still answering
from it when the switch happens finishes its question.

**Adding and deleting documents** (the 知识库 tab) changes the live generation in place:
rows of new and changed documents are inserted under fresh ids with the next revision, which
readers do not search until it is live; then the rows of changed and deleted documents are
deleted, document frequencies adjusted, and the next revision made live. The live row says
``updating`` meanwhile; a build that finds it set (one was killed) writes a new generation.

Readers (``MilvusStore``) check the live row before each question and follow a new
generation or revision; what they fetched is cached per revision.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import ConfigError, IndexLockedError, StoreUnavailableError
from index.manifest import Manifest, manifest_from
from index.settings import Settings
from index.stores import milvus_uri
from index.tokens import STOPWORDS, normalize, token_hashes, tokenize
from index.types import Document

KINDS = ("chunks", "sentences", "documents", "terms")
# The layout of the collections and of the live row; an index written in another layout is rebuilt.
LAYOUT = 2  # 2: documents keep their page starts and OCR-read pages
LIVE = "live"
CONSISTENCY_LEVELS = ("Strong", "Bounded", "Session", "Eventually")
# VARCHAR fields hold at most 65,535 bytes: 16,383 characters of any script fit.
MAX_TEXT_CHARS = 16_383
PAGE_CHARS = 16_000  # a document's text is stored in pages of this many characters
# What Milvus' BM25 function is given of a chunk and a question (setting ``milvus_analyzer``).
ANALYZERS = {
    # The product's own tokens (index.tokens, as the local store's BM25 has them), space-separated.
    "tokens": {"tokenizer": "whitespace"},
    # Milvus' jieba words of the NFKC text, lower case, no punctuation, the product's stopwords.
    "jieba": {
        "tokenizer": "jieba",
        "filter": ["lowercase", "cnalphanumonly", {"type": "stop", "stop_words": sorted(STOPWORDS)}],
    },
}
QUERY_IDS = 1_000  # ids per query by id list
# A build's calls (creating, loading, inserting, flushing collections) may wait this long: with
# the 10 s of questions, `policyqa index` gave up on a milvus-lite server sharing 2 cores with a
# load average of 19 (2026-12-07). Reaching the server is still bounded by ``milvus_timeout_s``.
WRITE_TIMEOUT_S = 120
TERM_ID_MASK = (1 << 63) - 1
DUMMY = [0.0, 0.0]  # Milvus wants a vector field in every collection; meta, documents and terms have this one

_clients: dict[tuple[str, str], object] = {}
_clients_lock = threading.Lock()


DOCUMENT_FIELDS = ["doc_id", "page", "text", "meta", "pages"]
HEAD_FIELDS = ["doc_id", "position", "meta", "chunks"]


def _is_file_uri(uri: str) -> bool:
    return "://" not in uri


def has_no_database(settings: Settings) -> bool:
    """True when the URI names an embedded database file that does not exist (nothing to read,
    and reading must not create it: a mistyped index folder stays absent)."""
    uri = milvus_uri(settings)
    return _is_file_uri(uri) and not Path(uri).exists()


class Connection:
    """One Milvus client with the product's timeouts and errors: every call either returns
    or raises StoreUnavailableError with a message for the person running the product."""

    def __init__(self, settings: Settings, writing: bool = False) -> None:
        """Connect to the configured Milvus; ``writing``: calls may take ``WRITE_TIMEOUT_S`` (a build)."""
        if settings.milvus_consistency not in CONSISTENCY_LEVELS:
            raise ConfigError(
                f"milvus_consistency 只能是 {'、'.join(CONSISTENCY_LEVELS)} 之一，"
                f"不能是 {settings.milvus_consistency!r}。 "
                f"milvus_consistency must be one of {', '.join(CONSISTENCY_LEVELS)}"
            )
        if settings.milvus_analyzer not in ANALYZERS:
            raise ConfigError(
                f"milvus_analyzer 只能是 {'、'.join(ANALYZERS)} 之一，不能是 {settings.milvus_analyzer!r}。 "
                f"milvus_analyzer must be one of {', '.join(ANALYZERS)}"
            )
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,100}", settings.milvus_prefix):
            raise ConfigError(
                f"milvus_prefix 只能由字母、数字和下划线组成且不以数字开头，不能是 {settings.milvus_prefix!r}。 "
                "milvus_prefix must be letters, digits and underscores, not starting with a digit"
            )
        self.settings = settings
        self.uri = milvus_uri(settings)
        # pymilvus bounds its retries by the call's timeout only when that is an int (a float is
        # taken for one attempt's deadline, then 75 retries with back-off: 210 s on a server that
        # is down), so whole seconds, at least one.
        self.connect_timeout = max(1, math.ceil(settings.milvus_timeout_s))
        self.timeout = max(self.connect_timeout, WRITE_TIMEOUT_S) if writing else self.connect_timeout
        self.prefix = settings.milvus_prefix
        self.consistency = settings.milvus_consistency
        self.client = self._client()

    def _client(self) -> Any:  # pymilvus.MilvusClient (pymilvus ships no types)
        key = (self.uri, self.settings.milvus_token)
        with _clients_lock:
            client = _clients.get(key)
            if client is not None:
                return client
            try:
                from pymilvus import MilvusClient
            except ImportError as exc:
                raise ConfigError(
                    "store = milvus 需要安装 pymilvus（pip install -e '.[milvus]'，make setup 会安装）。 "
                    "store = milvus needs pymilvus: pip install -e '.[milvus]' (make setup installs it)"
                ) from exc
            # pymilvus logs failed calls and iterator details at ERROR and WARNING in its own words
            # (its import sets the level); the person gets this module's message instead.
            for name in ("pymilvus", "pymilvus.milvus_client"):  # pymilvus configures both
                logging.getLogger(name).setLevel(logging.CRITICAL)
            if _is_file_uri(self.uri):
                if not self.uri.endswith(".db"):
                    raise ConfigError(
                        f"嵌入式 Milvus 的 milvus_uri 须是以 .db 结尾的文件，不能是 {self.uri!r}。 "
                        "an embedded Milvus (milvus-lite) needs a file name ending in .db, or give http://host:port"
                    )
                Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
            try:
                with warnings.catch_warnings():
                    # An embedded engine is started by milvus-lite, which imports pkg_resources (deprecated).
                    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
                    client = MilvusClient(uri=self.uri, token=self.settings.milvus_token, timeout=self.connect_timeout)
            except Exception as exc:  # pymilvus raises MilvusException, grpc errors, or milvus-lite's own
                raise self.unavailable(exc) from None
            _clients[key] = client
            return client

    def unavailable(self, exc: BaseException) -> StoreUnavailableError:
        """The error a person sees when Milvus cannot be used."""
        reason = _reason(exc)
        return StoreUnavailableError(
            f"无法使用 Milvus（{self.uri}）：{reason}。请检查 POLICYQA_MILVUS_URI、令牌和服务器是否在运行。 "
            f"Milvus at {self.uri} cannot be used ({reason}); check POLICYQA_MILVUS_URI, the token and that "
            "the server is running."
        )

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.<method>(*args, **kwargs)`` with the timeout, errors made StoreUnavailableError."""
        try:
            return getattr(self.client, method)(*args, timeout=self.timeout, **kwargs)
        except StoreUnavailableError:
            raise
        except Exception as exc:  # MilvusException, grpc.RpcError, connection errors
            raise self.unavailable(exc) from None

    def name(self, generation: str, kind: str) -> str:
        """A generation's collection of one kind."""
        return f"{self.prefix}_{generation}_{kind}"

    @property
    def meta(self) -> str:
        return f"{self.prefix}_meta"

    def read_live(self) -> dict | None:
        """The live row's value, or None when there is no index yet."""
        if not self.call("has_collection", self.meta):
            return None
        rows = self.call("query", self.meta, filter=f"key == {literal(LIVE)}", output_fields=["value"])
        return json.loads(rows[0]["value"]) if rows else None

    def write_live(self, value: dict) -> None:
        """Replace the live row (the atomic switch)."""
        if not self.call("has_collection", self.meta):
            self._create_meta()
        row = {"key": LIVE, "value": json.dumps(value, ensure_ascii=False), "v": DUMMY}
        self.call("upsert", self.meta, [row])

    def _create_meta(self) -> None:
        from pymilvus import DataType

        schema = self.client.create_schema(auto_id=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("value", DataType.VARCHAR, max_length=65_535)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        self.create(self.meta, schema, [("v", "FLAT", "L2", {})])

    def create(self, name: str, schema: Any, indexes: list[tuple[str, str, str, dict]]) -> None:
        """Create a collection with these (field, index type, metric, params) indexes and load it,
        with the configured shards, replicas and consistency level."""
        params = self.client.prepare_index_params()
        for vector_field, kind, metric, extra in indexes:
            params.add_index(vector_field, index_type=kind, metric_type=metric, params=extra)
        self.call(
            "create_collection",
            name,
            schema=schema,
            index_params=params,
            consistency_level=self.consistency,
            num_shards=self.settings.milvus_shards,
        )
        if self.settings.milvus_replicas > 1:  # created and loaded with one; a cluster spreads more
            self.call("release_collection", name)
            self.call("load_collection", name, replica_number=self.settings.milvus_replicas)

    def generations(self) -> set[str]:
        """Generations that have at least one collection."""
        pattern = re.compile(rf"{re.escape(self.prefix)}_(g[0-9a-z]+)_({'|'.join(KINDS)})")
        return {m.group(1) for name in self.call("list_collections") if (m := pattern.fullmatch(name))}

    def drop_generation(self, generation: str) -> None:
        for kind in KINDS:
            name = self.name(generation, kind)
            if self.call("has_collection", name):
                self.call("drop_collection", name)


def _reason(exc: BaseException) -> str:
    """What went wrong, in one line."""
    code, details = getattr(exc, "code", None), getattr(exc, "details", None)
    if callable(code) and callable(details):  # a grpc.RpcError, whose str() is a multi-line dump
        return f"{getattr(code(), 'name', code())}: {details()}"
    return " ".join((getattr(exc, "message", None) or str(exc) or type(exc).__name__).split())


def literal(text: str) -> str:
    """A string literal for a Milvus filter expression (double quotes; UTF-8 as is)."""
    return json.dumps(text, ensure_ascii=False)


def term_ids(tokens: Sequence[str]) -> list[int]:
    """The primary keys of tokens in the terms collection: 63 bits of their index.tokens hash."""
    return [int(h) & TERM_ID_MASK for h in token_hashes(tokens)]


def clip_text(text: str) -> str:
    """Text that fits a VARCHAR field; a reader finds a clipped span's text in its document."""
    return text[:MAX_TEXT_CHARS]


def floats(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).ravel().tolist()


def changed_meanwhile() -> IndexLockedError:
    """The error of a question whose rows an update in place removed while it was answered."""
    return IndexLockedError("索引正在更新，请稍等片刻再试。 The index is being updated; ask again in a moment.")


def read_heads(connection: Connection, generation: str, revision: int) -> list[dict]:
    """First pages of every document (without text) up to ``revision``, in index order."""
    name = connection.name(generation, "documents")
    rows = []
    iterator = connection.call(
        "query_iterator",
        name,
        batch_size=4_096,
        filter=f"page == 0 and revision <= {int(revision)}",
        output_fields=HEAD_FIELDS,
    )
    try:
        while batch := _next(connection, iterator):
            rows.extend(batch)
    finally:
        iterator.close()
    return sorted(rows, key=lambda r: r["position"])


def _next(connection: Connection, iterator: Any) -> list[dict]:
    try:
        return iterator.next()
    except Exception as exc:
        raise connection.unavailable(exc) from None


def manifest_of(live: dict, heads: list[dict]) -> Manifest:
    """The live manifest with its document list (doc id → content hash) from the documents' rows."""
    documents = {row["doc_id"]: json.loads(row["meta"])["hash"] for row in heads}
    return manifest_from({**live["manifest"], "documents": documents})


def document_of(pages: list[dict]) -> Document:
    """A document from its pages' rows."""
    pages = sorted(pages, key=lambda r: r["page"])
    meta = json.loads(pages[0]["meta"])
    text = "".join(page["text"] for page in pages)
    starts, ocr = [], []
    for page in pages:
        held = json.loads(page["pages"])
        starts.extend(held["starts"])
        ocr.extend(held["ocr"])
    return Document(
        pages[0]["doc_id"], meta["title"], meta["date"], meta["author"], text, meta["hash"], tuple(starts), tuple(ocr)
    )


def lexical_text(text: str, analyzer: str, method: str) -> str:
    """What the BM25 analyzer is given of a chunk or a query."""
    if analyzer == "tokens":
        return " ".join(tokenize(text, method))
    return normalize(text)


def batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for begin in range(0, len(items), size):
        yield items[begin : begin + size]
