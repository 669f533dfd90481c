"""Answers from scanned documents: cited with the right page, marked as OCR, figures verified,
the viewer showing the page image; and a scan of a seed document answering the dev set as
its text does.

One index over the real corpus with the seed document ``bench.ocr.SEED`` replaced by a scan
of its first pages, plus a scanned three-page report (image-only PDF) and a two-column page
(PNG), all drawn in the test (bench/scans.py) and read by the real OCR models.
"""

from __future__ import annotations

import shutil

import pytest

from bench.ocr import SEED, compare_on_seed, scanned_seed, seed_questions
from bench.scans import image_pdf, png, report_pages, two_column_page
from index.build import build_index
from index.library import Library
from qa.answer_json import answer_to_json
from qa.pipeline import QAPipeline
from tests.conftest import CORPUS, DEV_SET
from ui import cli, dify_api, handlers

pytestmark = pytest.mark.slow

SEED_SCAN = "002_88d20b9e249d40e3-scan.pdf"


@pytest.fixture(scope="module")
def scanned(base_settings, embedder, tmp_path_factory):
    """(settings, pipeline, the seed's scanned pages) of the corpus with scans."""
    root = tmp_path_factory.mktemp("scanned")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    (corpus / SEED).unlink()
    data, seed_pages = scanned_seed()
    (corpus / SEED_SCAN).write_bytes(data)
    (corpus / "青松县工作报告.pdf").write_bytes(image_pdf(report_pages()))
    (corpus / "白河镇简报.png").write_bytes(png(two_column_page()))
    settings = base_settings.replace(corpus_dir=corpus, index_dir=root / "index")
    report = build_index(settings, embedder=embedder, progress=lambda *_: None)
    assert not report.skipped, report.skipped
    return settings, QAPipeline(settings, embedder=embedder), seed_pages


@pytest.mark.parametrize(
    ("question", "figure", "source", "page"),
    [
        ("青松县2023年投入了多少财政衔接推进乡村振兴补助资金？", "1.86亿元", "青松县工作报告.pdf", 1),
        ("青松县防止返贫监测对象的风险消除率是多少？", "77.8%", "青松县工作报告.pdf", 2),
        ("青松县易地扶贫搬迁集中安置点共安置了多少户搬迁群众？", "2315户", "青松县工作报告.pdf", 3),
        ("白河镇选派了多少名驻村第一书记？", "36名", "白河镇简报.png", 1),
    ],
)
def test_answers_from_scans_cite_their_page_as_ocr_text_with_verified_figures(scanned, question, figure, source, page):
    _, pipeline, _ = scanned
    answer = pipeline.ask(question)
    assert answer.answered and figure in answer.text, answer.text
    holding = [c for c in answer.citations if figure in c.text]
    assert holding and all((c.doc_id, c.page, c.ocr) == (source, page, True) for c in holding), holding
    stated = [f for f in answer.figures if f.text in figure or figure in f.text]
    assert stated and all(f.verified for f in stated), answer.figures
    reply = answer_to_json(answer)
    cited = next(c for c in reply["citations"] if figure in c["text"])
    assert (cited["source"], cited["page"], cited["ocr"]) == (source, page, True)


def test_dify_records_and_the_cli_name_the_page_of_a_scan(scanned):
    _, pipeline, _ = scanned
    question = "青松县易地扶贫搬迁集中安置点共安置了多少户搬迁群众？"
    records = dify_api.records(pipeline, question, top_k=5, threshold=0.0)
    scanned_records = [r for r in records if r["metadata"]["source"] == "青松县工作报告.pdf"]
    assert scanned_records and "2315户" in scanned_records[0]["content"], records
    assert scanned_records[0]["metadata"] | {"page": 3, "ocr": True} == scanned_records[0]["metadata"]
    unpaged = [r for r in records if r["metadata"]["source"].endswith(".txt")]
    assert all("page" not in r["metadata"] for r in unpaged)
    printed = cli._for_a_person(pipeline.ask(question))
    assert "青松县工作报告.pdf，第3页（OCR识别），字符" in printed, printed


def test_the_viewer_shows_the_scanned_page_beside_its_text(scanned):
    settings, pipeline, _ = scanned
    answer = pipeline.ask("青松县防止返贫监测对象的风险消除率是多少？")
    citation = next(c for c in answer.citations if "77.8%" in c.text)
    library = Library(settings, index=lambda: pipeline.store)
    html = handlers.open_source(library, {"doc_id": citation.doc_id, "start": citation.start, "end": citation.end})
    assert "第2页 / 共3页" in html and "OCR识别" in html
    assert '<img src="data:image/jpeg;base64,' in html and 'alt="第2页的扫描图像"' in html
    assert f'<mark class="pqa-hit">{citation.text}</mark>' in html
    assert "1.86亿元" not in html  # page 1's text is not on page 2


def test_a_scanned_seed_document_answers_the_dev_set_as_its_text_does(scanned, pipeline):
    """The dev-set questions whose evidence is on the scanned pages: the same answer-hit as
    on the text version, and every hit cites the page its evidence is on."""
    _, scan_pipeline, seed_pages = scanned
    questions = seed_questions(seed_pages, DEV_SET)
    assert len(questions) >= 6, [q.id for q, _ in questions]
    rows = compare_on_seed(
        lambda q: answer_to_json(pipeline.ask(q)), lambda q: answer_to_json(scan_pipeline.ask(q)), questions, SEED_SCAN
    )
    assert [(r.question, r.scan_hit) for r in rows] == [(r.question, r.text_hit) for r in rows]
    for row in rows:
        if row.scan_hit:
            assert row.page in row.scan_pages and row.scan_ocr, row
