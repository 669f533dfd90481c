"""A scanned PDF uploaded in the browser, asked about, its card and its page in the viewer.

The scan is drawn in the test (bench/scans.py: an image-only PDF of three pages). Screenshots
of the card and of the viewer go to tests/artifacts/ (scanned-card.png, scanned-viewer.png).
"""

from __future__ import annotations

import pytest

from bench.scans import image_pdf, report_pages
from tests.e2e.test_accessibility import BLOCKING, _record, _violations
from tests.e2e.test_browser import BUILD_TIMEOUT_MS, ask, open_citation, wait_for_app

pytestmark = pytest.mark.e2e

SCAN_NAME = "青松县工作报告扫描件.pdf"
QUESTION = "青松县防止返贫监测对象的风险消除率是多少？"


def test_a_scanned_pdf_is_uploaded_answered_with_its_page_and_shown_beside_its_image(
    open_tab, app_server, tmp_path, artifacts
):
    tab = open_tab()
    page = tab.page
    wait_for_app(page)
    page.get_by_role("tab", name="知识库").click()
    upload = tmp_path / SCAN_NAME
    upload.write_bytes(image_pdf(report_pages()))
    with page.expect_file_chooser() as chooser:
        page.click("#pqa-upload")
    chooser.value.set_files(str(upload))
    status = page.locator("#pqa-status")
    status.filter(has_text="索引已更新").wait_for(timeout=BUILD_TIMEOUT_MS)
    assert "已添加 1 个文件" in status.inner_text()
    try:
        page.get_by_role("tab", name="问答").click()
        answer = ask(page, QUESTION)
        assert "77.8%" in answer.locator(".pqa-text").inner_text()
        cards = answer.locator(".pqa-card")
        index = next(i for i in range(cards.count()) if "77.8%" in cards.nth(i).inner_text())
        meta = cards.nth(index).locator(".pqa-card-meta").inner_text()
        assert SCAN_NAME in meta and "第2页" in meta and "OCR识别" in meta
        cards.nth(index).screenshot(path=str(artifacts / "scanned-card.png"))

        hit = open_citation(page, answer, index)
        assert "77.8%" in hit.inner_text()
        viewer = page.locator("#pqa-viewer")
        assert "第2页 / 共3页" in viewer.locator(".pqa-viewer-meta").inner_text()
        assert "1.86亿元" not in viewer.locator(".pqa-doc").inner_text()  # page 1 is not shown
        scan = viewer.locator(".pqa-scan img")
        scan.wait_for(timeout=BUILD_TIMEOUT_MS)
        assert scan.get_attribute("alt") == "第2页的扫描图像"
        assert page.evaluate("() => document.querySelector('#pqa-viewer .pqa-scan img').naturalWidth") > 500
        viewer.screenshot(path=str(artifacts / "scanned-viewer.png"))
        found = _violations(page)
        _record(artifacts, "viewer with a scanned page (light)", found)
        assert [v for v in found if v["impact"] in BLOCKING] == []

        viewer.get_by_role("link", name="下一页 ›").click()
        viewer.locator(".pqa-viewer-meta").filter(has_text="第3页 / 共3页").wait_for(timeout=BUILD_TIMEOUT_MS)
        assert "2315户" in viewer.locator(".pqa-doc").inner_text()
        assert tab.foreign_requests() == []
    finally:
        page.get_by_role("tab", name="知识库").click()
        page.locator(f"#pqa-documents li[data-doc='{SCAN_NAME}']").get_by_role("button", name="删除").click()
        status.filter(has_text="已删除").wait_for(timeout=BUILD_TIMEOUT_MS)
        status.filter(has_text="索引已更新").wait_for(timeout=BUILD_TIMEOUT_MS)
    assert not (app_server.corpus_dir / SCAN_NAME).exists()
