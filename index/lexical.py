"""BM25 over chunk tokens (bm25s), saved in bm25s' pickle-free format; tokens come from index.tokens."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import bm25s
import numpy as np

from index.tokens import bm25_idf, token_hashes, tokenize

# bm25s sets its own logger to DEBUG, which prints on every build.
logging.getLogger("bm25s").setLevel(logging.WARNING)

VOCAB_HASHES = "vocab_hashes.npy"  # uint64 hashes of the tokens, sorted
VOCAB_ROWS = "vocab_rows.npy"  # the vocabulary row of each hash


class LexicalIndex:
    """BM25 over chunk tokens, saved and loaded with bm25s' own pickle-free format."""

    def __init__(self, retriever: bm25s.BM25, method: str) -> None:
        self.retriever = retriever
        self.method = method
        # Sorted token hashes and their vocabulary rows, when loaded memory-mapped.
        self._hashed_vocab: tuple[np.ndarray, np.ndarray] | None = None
        # Query tokens in more than this share of chunks are left out of search (large indexes).
        self.max_df_share: float | None = None

    @classmethod
    def build(cls, texts: Iterable[str], method: str, count: int | None = None) -> LexicalIndex:
        """Index texts (their position is the row id), reading them once, one at a time.

        Scores exactly as bm25s' own builder (``tests/index/test_lexical.py``), which keeps
        every token of every text as a Python string (> 20 GB at 10^6 chunks); here a text's
        tokens become vocabulary ids at once, and postings are numpy arrays (12 bytes per
        distinct token of a text).

        Args:
            texts: the texts, in row order (an iterator is fine with ``count``).
            method: the tokenizer (``tokenize``).
            count: the number of texts; ``len(texts)`` when omitted.
        """
        if count is None:
            texts = list(texts)
            count = len(texts)
        vocab: dict[str, int] = {}
        term_parts, doc_parts, tf_parts = [], [], []
        lengths = np.zeros(count, dtype=np.float32)
        for doc, text in enumerate(texts):
            # An empty token list would make bm25s fail; "" is its own placeholder token, as there.
            tokens = tokenize(text, method) or [""]
            ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.int32, count=len(tokens))
            terms, tfs = np.unique(ids, return_counts=True)
            term_parts.append(terms)
            tf_parts.append(tfs.astype(np.float32))
            doc_parts.append(np.full(len(terms), doc, dtype=np.int32))
            lengths[doc] = len(tokens)
        terms = np.concatenate(term_parts) if term_parts else np.empty(0, dtype=np.int32)
        docs = np.concatenate(doc_parts) if doc_parts else np.empty(0, dtype=np.int32)
        tfs = np.concatenate(tf_parts) if tf_parts else np.empty(0, dtype=np.float32)
        del term_parts, doc_parts, tf_parts
        retriever = bm25s.BM25()  # method "lucene", k1 1.5, b 0.75
        df = np.bincount(terms, minlength=len(vocab)).astype(np.float64)
        idf = np.log(1 + (count - df + 0.5) / (df + 0.5)).astype(np.float32)
        average = lengths.mean() if count else 1.0
        k1, b = np.float32(retriever.k1), np.float32(retriever.b)
        scores = idf[terms] * (tfs / (k1 * ((1 - b) + b * lengths[docs] / np.float32(average)) + tfs))
        order = np.argsort(terms, kind="stable")  # postings of a term stay in document order
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(df.astype(np.int64), out=indptr[1:])
        retriever.scores = {
            "data": scores[order].astype(np.float32),
            "indices": docs[order],
            "indptr": indptr,
            "num_docs": count,
        }
        retriever.vocab_dict = vocab
        retriever.unique_token_ids_set = set(vocab.values())
        retriever.nonoccurrence_array = None  # "lucene" needs none
        return cls(retriever, method)

    def save(self, directory: Path) -> None:
        """Write the index files into ``directory`` (bm25s' files plus the hashed vocabulary)."""
        self.retriever.save(str(directory), show_progress=False)
        tokens = list(self.retriever.vocab_dict)
        hashes = token_hashes(tokens)
        order = np.argsort(hashes, kind="stable")
        rows = np.fromiter(self.retriever.vocab_dict.values(), dtype=np.int64, count=len(tokens))
        np.save(directory / VOCAB_HASHES, hashes[order], allow_pickle=False)
        np.save(directory / VOCAB_ROWS, rows[order], allow_pickle=False)

    @classmethod
    def load(cls, directory: Path, method: str, mmap: bool = False, max_df_share: float | None = None) -> LexicalIndex:
        """Read an index written by ``save``.

        With ``mmap`` the postings stay on disk and tokens are looked up in the hashed
        vocabulary (16 bytes a token, memory-mapped) instead of bm25s' dict: every
        distinct figure is a token of its own, so at 10^6 chunks the dict alone held
        ≈ 1.7 KB per chunk (166 MB at 10^5 chunks). ``max_df_share``: see ``_without_common``.
        """
        hashed = mmap and (directory / VOCAB_HASHES).is_file()
        retriever = bm25s.BM25.load(str(directory), mmap=mmap, load_vocab=not hashed, show_progress=False)
        index = cls(retriever, method)
        index.max_df_share = max_df_share
        if hashed:
            index._hashed_vocab = (
                np.load(directory / VOCAB_HASHES, mmap_mode="r", allow_pickle=False),
                np.load(directory / VOCAB_ROWS, mmap_mode="r", allow_pickle=False),
            )
        return index

    def token_ids(self, tokens: Sequence[str]) -> list[int]:
        """Vocabulary rows of the tokens the index knows, in order (repeats kept)."""
        if self._hashed_vocab is None:
            vocab = self.retriever.vocab_dict
            return [vocab[t] for t in tokens if t in vocab]
        if not tokens:
            return []
        known_hashes, rows = self._hashed_vocab
        hashes = token_hashes(tokens)
        positions = np.minimum(np.searchsorted(known_hashes, hashes), max(len(known_hashes) - 1, 0))
        known = known_hashes[positions] == hashes if len(known_hashes) else np.zeros(len(tokens), dtype=bool)
        return [int(row) for row in rows[positions[known]]]

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (row ids, BM25 scores) for a query, best first; empty when no token matches."""
        token_ids = self.token_ids(tokenize(query, self.method))
        if not token_ids:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if self.max_df_share is not None:
            token_ids = self._without_common(token_ids, self.max_df_share)
        scores = self._scores_of(token_ids)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top.astype(np.int64), scores[top].astype(np.float32)

    def _without_common(self, token_ids: list[int], max_df_share: float) -> list[int]:
        """The query tokens in at most ``max_df_share`` of the chunks (the rarest one if none is).

        At 10^6 chunks the commonest bigrams of a question (「扶贫」「发展」) are in most
        chunks: their postings are > 90% of the work, and with idf < 3 they rarely decide
        the top 50. ``bench.scale`` reports BM25 recall@10 against the full sum.
        """
        indptr = self.retriever.scores["indptr"]
        limit = max_df_share * int(self.retriever.scores["num_docs"])
        df = [int(indptr[t + 1] - indptr[t]) for t in token_ids]
        kept = [t for t, d in zip(token_ids, df) if d <= limit]
        return kept or [token_ids[int(np.argmin(df))]]

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every chunk for the query tokens (as bm25s' ``get_scores``)."""
        return self._scores_of(self.token_ids(tokens))

    def _scores_of(self, token_ids: list[int]) -> np.ndarray:
        """Sums each token's posting list with one ``bincount`` (bm25s runs ``np.add.at`` per
        token, which is slower when common bigrams are in most chunks), reading
        memory-mapped postings slice by slice."""
        matrix = self.retriever.scores
        indptr, indices, data = matrix["indptr"], matrix["indices"], matrix["data"]
        rows, weights = [], []
        for token_id in token_ids:
            begin, end = int(indptr[token_id]), int(indptr[token_id + 1])
            rows.append(indices[begin:end])
            weights.append(data[begin:end])
        total = int(matrix["num_docs"])
        if not rows:
            return np.zeros(total, dtype=np.float32)
        summed = np.bincount(np.concatenate(rows), weights=np.concatenate(weights), minlength=total)
        return summed.astype(np.float32)

    def document_frequency(self, token: str) -> int:
        """How many chunks contain the token."""
        found = self.token_ids([token])
        if not found:
            return 0
        indptr = self.retriever.scores["indptr"]
        return int(indptr[found[0] + 1] - indptr[found[0]])

    def idf(self, token: str) -> float:
        """BM25's inverse document frequency of a token; a token in no chunk gets the highest."""
        return self._idf(self.document_frequency(token))

    def term_weight(self, token: str) -> float:
        """How much a question term counts when judging whether a sentence covers the question.

        Its idf, or 0 for a token no chunk contains: a word the question uses and the
        documents never do (「念书」 for 「就读」) cannot be matched by any sentence, so it
        must not count against every sentence alike.
        """
        df = self.document_frequency(token)
        return self._idf(df) if df else 0.0

    def _idf(self, df: int) -> float:
        return bm25_idf(df, int(self.retriever.scores["num_docs"]))
