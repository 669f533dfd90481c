"""Generated documents and questions through loader → chunker → index → ask.

No exception may escape except the product's own clear errors, and the
invariants hold: offsets match text, citations point inside their document.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.build import build_index
from index.chunk import chunk_document, make_splitter, split_sentences
from index.errors import DocumentError, EmptyCorpusError, QuestionError
from index.load import load_document
from qa.answer_json import answer_to_json
from qa.extractive import DECLINE_FOR_SCOPE
from qa.pipeline import QAPipeline

FRAGMENTS = [
    "中央财政专项扶贫资金",
    "累计投入6601亿元",
    "贫困发生率由10.2%下降至4.5%",
    "９８９９万",
    "１２．８万个",
    "。",
    "！",
    "？",
    "；",
    "，",
    "、",
    "…",
    "\n",
    "\n\n",
    " ",
    "\u3000",
    "\t",
    "“",
    "”",
    "（",
    "）",
    "<p>",
    "</p>",
    "<div>",
    "<br/>",
    "&amp;",
    "&nbsp;",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "---\ntitle: 标题\ndate: 2021-02-25\n---\n",
    "您的位置:首页 > 新闻",
    "2025-10-10人已围观",
    "随机图文",
    "ཁོར་ཡུང་རྒྱལ་ཁབ་",
    "བོད་ལྗོངས",
    "😀",
    "\x00",
    "\x07",
    "\ufeff",
    "一是发展生产脱贫一批。",
    "二是易地搬迁脱贫一批。",
    "Poverty 2021",
    "1,300",
    "2-3户",
    "百分之七十",
]
document_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=40).map("".join)
encoding = st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"])
suffix = st.sampled_from([".txt", ".md", ".html"])
question_text = st.one_of(
    st.lists(st.sampled_from([*FRAGMENTS, "多少", "哪一年", "是谁", "那2017年呢？"]), max_size=8).map("".join),
    st.text(max_size=60),
)


def load_document_or_none(path: Path):
    try:
        return load_document(path, path.name)
    except DocumentError:
        return None


def _encode(text: str, name: str) -> bytes:
    return text.encode(name, errors="surrogatepass" if name.startswith("utf") else "replace")


@settings(max_examples=150, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
@given(text=document_text, codec=encoding, ext=suffix)
def test_loader_and_chunker_never_crash_and_keep_offsets(text, codec, ext, tmp_path_factory):
    path = tmp_path_factory.mktemp("doc") / f"d{ext}"
    path.write_bytes(_encode(text, codec))
    try:
        doc = load_document(path, path.name)
    except DocumentError:
        return
    assert doc.text.strip()
    for chunk in chunk_document(doc, make_splitter(120, 30)):
        assert doc.text[chunk.start : chunk.end] == chunk.text
    for sentence in split_sentences(doc):
        assert doc.text[sentence.start : sentence.end] == sentence.text


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=timedelta(seconds=60),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    documents=st.lists(document_text, min_size=1, max_size=3), questions=st.lists(question_text, min_size=1, max_size=3)
)
def test_index_and_ask_never_crash_and_cite_inside_documents(
    documents, questions, base_settings, embedder, tmp_path_factory
):
    root = tmp_path_factory.mktemp("fuzz")
    corpus = root / "corpus"
    corpus.mkdir()
    for number, text in enumerate(documents):
        (corpus / f"doc{number}.txt").write_bytes(_encode(text, "utf-8"))
    settings_ = base_settings.replace(corpus_dir=corpus, index_dir=root / "index", chunk_size=120, chunk_overlap=30)
    try:
        build_index(settings_, embedder=embedder, progress=lambda *_: None)
    except EmptyCorpusError:
        assert all(not load_document_or_none(corpus / f"doc{n}.txt") for n in range(len(documents)))
        return
    pipeline = QAPipeline(settings_, embedder=embedder)
    texts = {h.doc_id: pipeline.store.document(h.doc_id).text for h in pipeline.store.heads()}
    for question in questions:
        try:
            answer = pipeline.ask(question, history=[questions[0]])
        except QuestionError:
            continue
        reply = json.loads(json.dumps(answer_to_json(answer)))
        for citation in reply["citations"]:
            assert texts[citation["source"]][citation["start"] : citation["end"]] == citation["text"]
        for passage in reply["passages"]:
            assert texts[passage["source"]][passage["start"] : passage["end"]] == passage["text"]
        assert reply["answered"] or declines_clearly(reply, settings_.refusal_text)


def declines_clearly(reply: dict, refusal_text: str) -> bool:
    """A declined reply is the refusal, or says what the documents state for another scope
    (a heading, another place…) with the one citation it quotes."""
    scope_decline = reply["answer"].startswith(DECLINE_FOR_SCOPE.split("{")[0]) and len(reply["citations"]) == 1
    return reply["answer"] == refusal_text or scope_decline


# Any code point, lone surrogates included: what a browser's JSON may carry.
any_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=80)
turn = st.one_of(
    any_text,
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system"]), "content": st.one_of(any_text, st.integers())}
    ),
    st.lists(st.one_of(any_text, st.none()), max_size=3),
    st.none(),
    st.integers(),
)


@pytest.mark.slow
@settings(max_examples=150, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
@given(question=st.one_of(question_text, any_text), history=st.one_of(st.none(), st.lists(turn, max_size=4)))
def test_ask_with_any_question_and_history_answers_or_refuses_clearly(pipeline, question, history):
    try:
        answer = pipeline.ask(question, history=history)
    except QuestionError:
        return
    reply = json.loads(json.dumps(answer_to_json(answer)))
    for citation in reply["citations"]:
        text = pipeline.store.document(citation["source"]).text
        assert text[citation["start"] : citation["end"]] == citation["text"]
    assert reply["answered"] or declines_clearly(reply, pipeline.settings.refusal_text)
