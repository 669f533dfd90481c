"""The usual LangChain setup, as a user would build it: the baseline of ``policyqa bench``.

``RecursiveCharacterTextSplitter`` with its defaults as commonly used (1000 characters,
200 overlap), ``HuggingFaceEmbeddings`` over the same model directory our index uses
(no hub download), ``FAISS.from_documents`` and ``similarity_search(k)``. It gets the
same cleaned document text as our index, so only retrieval differs. The model's
"query: "/"passage: " prefixes are not added: LangChain's HuggingFaceEmbeddings has no
separate query prompt, and the usual setup does not add them.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from index.types import Document

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200


@dataclass
class Baseline:
    """A built LangChain vector store and what building it took."""

    store: object
    chunks: int
    index_s: float

    def search(self, question: str, k: int) -> list[dict]:
        """Top-k passages as {"source", "text"} (the shape ``qa.evaluate`` reads)."""
        hits = self.store.similarity_search(question, k=k)
        return [{"source": h.metadata["source"], "text": h.page_content} for h in hits]


def build_baseline(documents: Sequence[Document], model_path: str, threads: int) -> Baseline:
    """Split, embed and index the documents the LangChain way; time the indexing (model load excluded)."""
    import torch
    from langchain_community.embeddings import HuggingFaceEmbeddings
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document as LangChainDocument
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    torch.set_num_threads(threads)
    with warnings.catch_warnings():
        # Deprecated in favour of langchain-huggingface, which would downgrade huggingface_hub
        # here; the class is what most existing LangChain setups still use.
        warnings.simplefilter("ignore")
        embeddings = HuggingFaceEmbeddings(
            model_name=model_path, model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True}
        )
    embeddings.embed_query("warm-up")
    started = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    pieces = splitter.split_documents(
        [LangChainDocument(page_content=d.text, metadata={"source": d.doc_id}) for d in documents]
    )
    store = FAISS.from_documents(pieces, embeddings)
    return Baseline(store=store, chunks=len(pieces), index_s=time.perf_counter() - started)
