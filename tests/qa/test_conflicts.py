"""Documents that state different values for one measure, period and place are reported; nothing else is."""

from __future__ import annotations

import json

import pytest

from index.types import Sentence
from qa.answer_json import answer_to_json
from qa.conflicts import (
    Statement,
    anchor_statements,
    find_disagreements,
    report_conflicts,
    statements_in,
)
from qa.text import place_names
from qa.types import Citation, Figure, Hit
from tests.conftest import DEV_SET

TEAMS_2021 = "截至2021年,全国累计选派25.5万个驻村工作队、300多万名第一书记和驻村干部。"


def _source(text: str, doc_id: str, date: str | None, title: str = "") -> tuple[Sentence, Hit]:
    sentence = Sentence(
        sentence_id=hash((doc_id, text)) % 10**6, doc_id=doc_id, start=100, end=100 + len(text), text=text
    )
    hit = Hit(
        chunk_id=0,
        doc_id=doc_id,
        title=title or f"文件{doc_id}",
        date=date,
        text=text,
        start=100,
        end=100 + len(text),
        score=1.0,
    )
    return sentence, hit


def _statement(text: str, figure: str, doc_id: str = "a.txt", date: str | None = "2021-03-01") -> Statement:
    return next(s for s in statements_in(*_source(text, doc_id, date)) if s.quantity.text == figure)


def _contradicted(anchor: Statement, *others: tuple[str, str, str | None]) -> list[str]:
    """The figures of ``others`` (text, doc id, date) reported as contradicting ``anchor``."""
    statements = [s for text, doc, date in others for s in statements_in(*_source(text, doc, date))]
    return [o.quantity.text for d in find_disagreements([anchor], statements) for o in d.others]


def test_same_measure_same_year_different_value_in_another_document_is_a_conflict():
    anchor = _statement(TEAMS_2021, "25.5万个")
    assert _contradicted(anchor, ("截至2021年，全国累计选派24.5万个驻村工作队。", "b.txt", "2021-05-01")) == [
        "24.5万个"
    ]


@pytest.mark.parametrize(
    "other,why",
    [
        ("截至2021年，全国累计选派25.5万个驻村工作队。", "the same value"),
        ("截至2019年，全国累计选派20.5万个驻村工作队。", "another year"),
        ("截至2021年，广东省累计选派2.5万个驻村工作队。", "another place (and scale)"),
        ("截至2021年，全市累计选派24.5万个驻村工作队。", "a place the sentence does not name"),
        ("全国累计选派24.5万个驻村工作队。", "no year, undated document"),
        ("截至2021年，全国累计建成24.5万个易地扶贫搬迁安置点。", "another measure"),
        ("截至2021年，全国累计选派24.5万名第一书记。", "another unit"),
    ],
)
def test_what_is_not_a_conflict(other, why):
    anchor = _statement(TEAMS_2021, "25.5万个")
    assert _contradicted(anchor, (other, "b.txt", None)) == [], why


def test_one_document_never_conflicts_with_itself():
    anchor = _statement(TEAMS_2021, "25.5万个", doc_id="a.txt")
    assert _contradicted(anchor, ("截至2021年，全国累计选派24.5万个驻村工作队。", "a.txt", "2021-03-01")) == []


def test_approximate_figures_that_agree_are_not_a_conflict():
    anchor = _statement(TEAMS_2021, "300多万名")
    assert _contradicted(anchor, ("截至2021年，全国累计选派290多万名第一书记和驻村干部。", "b.txt", None)) == []


def test_a_sentence_without_a_year_takes_its_documents_year():
    anchor = _statement("扶贫小额信贷累计发放7100多亿元。", "7100多亿元", date="2021-02-25")
    earlier = ("扶贫小额信贷累计发放4300多亿元。", "b.txt", "2018-02-12")
    same_year = ("扶贫小额信贷累计发放5100多亿元。", "c.txt", "2021-06-01")
    assert _contradicted(anchor, earlier) == []
    assert _contradicted(anchor, same_year) == ["5100多亿元"]


def test_a_far_smaller_figure_is_another_scope_not_a_conflict():
    anchor = _statement("扶贫小额信贷累计发放7100多亿元。", "7100多亿元", date="2021-02-25")
    assert _contradicted(anchor, ("累计发放扶贫小额信贷资金3.3亿元。", "b.txt", "2021-06-01")) == []


def test_a_document_that_also_states_the_anchor_value_does_not_contradict_it():
    anchor = _statement("2012年至2016年，农村贫困发生率由10.2%下降至4.5%。", "10.2%", date="2016-12-01")
    other = ("2012年至2016年，农村贫困发生率由10.2%下降至4.5%。", "b.txt", "2017-01-01")
    assert _contradicted(anchor, other) == []


def test_since_a_year_is_not_that_year():
    anchor = _statement("2016年整合资金2340亿元用于脱贫攻坚。", "2340亿元")
    assert _contradicted(anchor, ("2016年以来累计整合资金2000亿元用于脱贫攻坚。", "b.txt", None)) == []


def test_places_are_named_places_not_generic_regions():
    assert set(place_names("以贵州省毕节市为例")) == {"贵州", "毕节市"}
    assert set(place_names("阿里地区改则县抢古村")) == {"阿里", "改则县"}
    assert place_names("中西部地区和贫困地区，东部9省市向扶贫协作地区投入") == ()
    assert place_names("土地增减挂指标跨省域调剂和省域内流转资金") == ()


def test_a_conflict_is_said_in_the_answer_with_each_value_cited_with_document_and_date():
    mine = _source(TEAMS_2021, "a.txt", "2021-09-14", "甲文件")
    theirs = _source("截至2021年，全国累计选派24.5万个驻村工作队。", "b.txt", "2021-05-01", "乙文件")
    text = "截至2021年,全国累计选派25.5万个驻村工作队[1]。"
    citation = Citation(
        1,
        "a.txt",
        "甲文件",
        "2021-09-14",
        mine[0].text,
        mine[0].start,
        mine[0].end,
        mine[1].text,
        mine[1].start,
        mine[1].end,
    )
    figures = (Figure("2021年", 2021.0, "年", 1, True), Figure("25.5万个", 255000.0, "个", 1, True))
    anchors = anchor_statements([citation], figures, [mine, theirs])
    assert [a.quantity.text for a in anchors] == ["25.5万个"]  # only the answer's figures anchor
    others = statements_in(*mine) + statements_in(*theirs)
    new_text, citations, conflicts = report_conflicts(text, (citation,), find_disagreements(anchors, others))
    assert new_text.startswith(text) and "说法不一致" in new_text
    assert "《甲文件》（2021-09-14）为25.5万个[1]" in new_text and "《乙文件》（2021-05-01）为24.5万个[2]" in new_text
    assert [c.marker for c in citations] == [1, 2] and citations[1].doc_id == "b.txt"
    (conflict,) = conflicts
    assert "驻村工作队" in conflict.measure
    assert [(v["source"], v["text"], v["date"], v["marker"]) for v in conflict.values] == [
        ("a.txt", "25.5万个", "2021-09-14", 1),
        ("b.txt", "24.5万个", "2021-05-01", 2),
    ]


@pytest.mark.slow
def test_no_conflict_is_reported_on_the_dev_set(pipeline):
    # Measured for issue 5: 004 repeats 000, and 第一书记 / 小额信贷 counts are given at
    # different dates by different documents; none of these is a disagreement.
    questions = [json.loads(line)["question"] for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
    reported = {q: answer_to_json(pipeline.ask(q))["conflicts"] for q in questions}
    assert {q: c for q, c in reported.items() if c} == {}


@pytest.mark.slow
def test_a_document_that_really_disagrees_is_reported(corpus_copy, base_settings, embedder, tmp_path):
    from index.build import build_index
    from qa.pipeline import QAPipeline

    (corpus_copy / "005_notice.txt").write_text(
        "---\ntitle: '驻村帮扶工作情况通报'\ndate: 2021-06-30\n---\n\n驻村帮扶工作情况通报\n\n"
        "截至2021年，全国累计选派24.5万个驻村工作队，驻村帮扶工作取得明显成效。\n",
        encoding="utf-8",
    )
    settings = base_settings.replace(corpus_dir=corpus_copy, index_dir=tmp_path / "index")
    build_index(settings, embedder=embedder, progress=lambda *_: None)
    answer = QAPipeline(settings, embedder=embedder).ask("截至2021年全国累计选派了多少个驻村工作队？")
    assert answer.answered and answer.conflicts, answer.text
    values = {(v["source"], v["text"]) for c in answer.conflicts for v in c.values}
    assert ("005_notice.txt", "24.5万个") in values
    assert any(text == "25.5万个" for _, text in values)
    assert "说法不一致" in answer.text
    # Every value is cited, so its document and date are one click away.
    markers = {c.marker for c in answer.citations}
    assert all(v["marker"] in markers for c in answer.conflicts for v in c.values)
