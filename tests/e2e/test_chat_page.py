"""The chat page and the knowledge base as a person uses them, in real Chromium against the real server:
copying, 👍/👎 feedback, conversations kept in the browser, folded sources, scrolling, Chinese labels,
editing a document's title and date, preview, download, search and drag-and-drop upload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO
from tests.e2e.test_browser import BUILD_TIMEOUT_MS, FIGURE_QUESTION, FIGURE_TITLE, ask, wait_for_app

pytestmark = pytest.mark.e2e

# An answer with seven citations (a list of achievements): more than three cards fold.
LIST_QUESTION = "脱贫攻坚取得了哪些成就？"
EDITED_DOC = "002_88d20b9e249d40e3.txt"


def _copied(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_copy_gives_plain_text_with_a_source_list(open_tab, app_server):
    tab = open_tab()
    tab.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_server.url)
    page = tab.page
    wait_for_app(page)
    answer = ask(page, FIGURE_QUESTION)
    answer.get_by_role("button", name="复制").click()
    answer.locator(".pqa-act-status").filter(has_text="已复制").wait_for(timeout=5_000)
    text = _copied(page)
    assert "<" not in text and "pqa-" not in text, "the copy holds markup"
    body, sources = text.split("\n\n来源：\n")
    assert "320" in body and body.endswith("[1]")
    assert sources.startswith(f"[1] {FIGURE_TITLE}，日期不详：「")
    assert tab.foreign_requests() == []


def test_more_than_three_sources_fold_and_a_marker_opens_the_fold(open_tab):
    page = open_tab().page
    wait_for_app(page)
    answer = ask(page, LIST_QUESTION)
    cards = answer.locator(".pqa-card")
    assert cards.count() > 3
    fold = answer.locator("details.pqa-more")
    assert fold.locator("summary").inner_text() == f"展开全部 {cards.count()} 条来源"
    assert [cards.nth(i).is_visible() for i in range(cards.count())] == [True] * 3 + [False] * (cards.count() - 3)
    # The list's items start on their own lines.
    assert answer.locator(".pqa-text br").count() >= 3
    answer.locator("a.pqa-marker").last.click()
    assert fold.evaluate("d => d.open") and cards.last.is_visible()


def test_a_new_answer_is_scrolled_to_its_start(open_tab):
    page = open_tab().page
    wait_for_app(page)
    for question in (LIST_QUESTION, FIGURE_QUESTION, LIST_QUESTION):
        answer = ask(page, question)
        time.sleep(0.5)  # the page scrolls after the answer is drawn
        chat = page.locator("#pqa-chat").bounding_box()
        top = answer.bounding_box()["y"]
        assert chat["y"] - 1 <= top <= chat["y"] + chat["height"] / 2, f"the answer starts at {top}, not near the top"


def test_feedback_is_stored_with_the_answer_and_exported(open_tab, app_server):
    page = open_tab().page
    wait_for_app(page)
    answer = ask(page, FIGURE_QUESTION)
    answer.get_by_role("button", name="没帮助").click()
    answer.locator(".pqa-act-status").filter(has_text="谢谢反馈").wait_for(timeout=10_000)
    assert answer.get_by_role("button", name="没帮助").get_attribute("aria-pressed") == "true"
    answer.locator(".pqa-reason input").fill("引用的段落不完整")
    answer.get_by_role("button", name="提交原因").click()
    answer.locator(".pqa-act-status").filter(has_text="已记录原因").wait_for(timeout=10_000)

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    index = app_server.corpus_dir.parent / "index"
    export = subprocess.run(
        [sys.executable, "-m", "ui.cli", "feedback", "export", "--index", str(index)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert export.returncode == 0, export.stderr
    records = [json.loads(line) for line in export.stdout.splitlines()]
    mine = [r for r in records if r["reason"] == "引用的段落不完整"]
    assert len(mine) == 1
    record = mine[0]
    assert record["rating"] == "down" and record["question"] == FIGURE_QUESTION
    assert "320" in record["answer"] and "[1]" in record["answer"]
    assert record["citations"][0]["title"] == FIGURE_TITLE and record["citations"][0]["marker"] == 1

    page.get_by_role("tab", name="知识库").click()
    panel = page.locator("#pqa-feedback")
    panel.filter(has_text="引用的段落不完整").wait_for(timeout=30_000)
    assert "👎" in panel.inner_text() and FIGURE_QUESTION in panel.inner_text()


def test_a_conversation_survives_a_reload_and_can_be_renamed_exported_and_deleted(open_tab):
    tab = open_tab()
    page = tab.page
    wait_for_app(page)
    ask(page, FIGURE_QUESTION)

    page.reload()
    wait_for_app(page)
    page.locator("#pqa-chat .pqa-msg").first.wait_for(timeout=30_000)
    assert "320" in page.locator("#pqa-chat .pqa-msg").last.inner_text()
    # The reopened conversation goes on: a follow-up still sees the question asked before the reload.
    follow_up = ask(page, "军队和武警部队呢？")
    assert "按上下文理解为" in follow_up.inner_text() and "3500" in follow_up.inner_text()

    history = page.locator("#pqa-history")
    history.locator("summary").click()
    item = history.locator(".pqa-h-item").first
    assert FIGURE_QUESTION[:20] in item.inner_text()
    item.get_by_role("button", name="重命名", exact=False).click()
    item.locator("input").fill("定点扶贫")
    item.get_by_role("button", name="保存").click()
    history.locator(".pqa-h-title").filter(has_text="定点扶贫").wait_for(timeout=5_000)

    with page.expect_download() as download:
        history.locator(".pqa-h-item").first.get_by_role("button", name="导出", exact=False).click()
    assert download.value.suggested_filename == "对话-定点扶贫.md"
    with open(download.value.path(), encoding="utf-8") as saved:
        markdown = saved.read()
    assert markdown.startswith("# 定点扶贫\n")
    assert f"## 问：{FIGURE_QUESTION}" in markdown and "## 问：军队和武警部队呢？" in markdown
    assert f"来源：\n[1] {FIGURE_TITLE}" in markdown and "<div" not in markdown

    # A new conversation empties the chat; the old one reopens from the list.
    history.get_by_role("button", name="新对话").click()
    page.wait_for_function("() => document.querySelectorAll('#pqa-chat .pqa-msg').length === 0", timeout=10_000)
    history.locator(".pqa-h-item .pqa-h-open").filter(has_text="定点扶贫").click()
    page.wait_for_function("() => document.querySelectorAll('#pqa-chat .pqa-msg').length === 2", timeout=10_000)

    history.locator(".pqa-h-item").first.get_by_role("button", name="删除", exact=False).click()
    assert tab.dialogs and tab.dialogs[-1][0] == "confirm"
    page.wait_for_function("() => !document.querySelector('#pqa-history .pqa-h-item')", timeout=10_000)
    page.reload()
    wait_for_app(page)
    time.sleep(2)
    assert page.locator("#pqa-chat .pqa-msg").count() == 0
    assert tab.foreign_requests() == []


def test_the_page_is_in_chinese(open_tab, app_server):
    import httpx

    html = httpx.get(app_server.url + "/").text
    assert '<html lang="zh-CN"' in html and "gradio.app" not in html and "Click to try out" not in html
    assert '<meta name="description" content="离线运行的政策文件问答' in html
    page = open_tab().page
    wait_for_app(page)
    ask(page, FIGURE_QUESTION)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    english = page.evaluate(
        """() => [...document.querySelectorAll('[aria-label], [title], [placeholder]')]
            .flatMap(e => ['aria-label', 'title', 'placeholder'].map(a => e.getAttribute(a)))
            .filter(v => v && /[A-Za-z]{3,}/.test(v) && !/Markdown|API|PDF|Word/.test(v))"""
    )
    assert english == [], english
    assert page.get_by_role("textbox", name="问题").count() == 1
    coverage = page.locator(".pqa-coverage").inner_text()
    assert coverage.startswith("收录 5 份文件") and "《" in coverage
    docs = httpx.get(app_server.url + "/openapi.json").json()
    assert docs["info"]["description"].startswith("离线运行的政策文件问答")
    assert "回答一个问题" in docs["paths"]["/api/ask"]["post"]["summary"]


def test_editing_a_documents_title_and_date_reaches_the_answers(open_tab, app_server):
    page = open_tab().page
    wait_for_app(page)
    page.get_by_role("tab", name="知识库").click()
    row = page.locator(f"#pqa-documents li[data-doc='{EDITED_DOC}']")
    assert "日期不详" in row.inner_text()
    source = (app_server.corpus_dir / EDITED_DOC).read_bytes()
    try:
        row.get_by_role("button", name="编辑", exact=False).click()
        row.locator("input[name=title]").fill("坚定不移推进脱贫攻坚（修订标题）")
        row.locator("input[name=date]").fill("2016年9月1日")
        row.get_by_role("button", name="保存").click()
        page.locator("#pqa-status").filter(has_text="索引已更新").wait_for(timeout=BUILD_TIMEOUT_MS)
        assert "2016-09-01" in page.locator("#pqa-status").inner_text()
        row = page.locator(f"#pqa-documents li[data-doc='{EDITED_DOC}']")
        assert "坚定不移推进脱贫攻坚（修订标题）" in row.inner_text() and "2016-09-01" in row.inner_text()
        assert (app_server.corpus_dir / EDITED_DOC).read_bytes() == source, "the document file was edited"

        page.get_by_role("tab", name="问答").click()
        card = ask(page, FIGURE_QUESTION).locator(".pqa-card").first
        assert card.locator(".pqa-card-title").inner_text() == "坚定不移推进脱贫攻坚（修订标题）"
        assert "2016-09-01" in card.locator(".pqa-card-meta").inner_text()

        page.get_by_role("tab", name="知识库").click()
        row.get_by_role("button", name="编辑", exact=False).click()
        row.locator("input[name=date]").fill("2016-02-30")
        row.get_by_role("button", name="保存").click()
        page.locator("#pqa-status").filter(has_text="没有保存").wait_for(timeout=30_000)
        assert "日期“2016-02-30”不对" in page.locator("#pqa-status").inner_text()
    finally:
        row = page.locator(f"#pqa-documents li[data-doc='{EDITED_DOC}']")
        if not row.locator("form").count():
            row.get_by_role("button", name="编辑", exact=False).click()
        row.locator("input[name=title]").fill(FIGURE_TITLE)
        row.locator("input[name=date]").fill("")
        row.get_by_role("button", name="保存").click()
        page.locator(f"#pqa-documents li[data-doc='{EDITED_DOC}']").filter(has_text="日期不详").wait_for(
            timeout=BUILD_TIMEOUT_MS
        )


def test_preview_download_and_search_in_the_knowledge_base(open_tab, app_server):
    tab = open_tab(accept_downloads=True)
    page = tab.page
    wait_for_app(page)
    page.get_by_role("tab", name="知识库").click()
    row = page.locator(f"#pqa-documents li[data-doc='{EDITED_DOC}']")
    row.get_by_role("button", name="预览", exact=False).click()
    page.locator("#pqa-preview .pqa-doc").wait_for(timeout=30_000)
    assert page.locator("#pqa-preview .pqa-viewer-title").inner_text() == FIGURE_TITLE
    assert "中央层面共安排320个单位" in page.locator("#pqa-preview .pqa-doc").inner_text()

    with page.expect_download() as download:
        row.get_by_role("link", name="下载", exact=False).click()
    assert download.value.suggested_filename == EDITED_DOC
    with open(download.value.path(), "rb") as saved:
        assert saved.read() == (app_server.corpus_dir / EDITED_DOC).read_bytes()

    page.fill("#pqa-documents .pqa-kb-search input", "脱贫攻坚")
    visible = page.locator("#pqa-documents li[data-doc]:visible")
    assert 1 <= visible.count() < page.locator("#pqa-documents li[data-doc]").count()
    assert all("脱贫攻坚" in visible.nth(i).inner_text() for i in range(visible.count()))
    assert page.locator("#pqa-documents .pqa-kb-count").inner_text().startswith(f"显示 {visible.count()} / ")
    assert tab.foreign_requests() == []


def test_files_dropped_on_the_list_are_uploaded_with_a_chinese_progress_label(open_tab, app_server):
    page = open_tab().page
    wait_for_app(page)
    page.get_by_role("tab", name="知识库").click()
    page.locator("#pqa-documents li[data-doc]").first.wait_for(timeout=30_000)
    labels: list[str] = []
    page.expose_function("__pqaSawLabel", lambda text: labels.append(text))  # noqa: PLW0108
    page.evaluate(
        """() => new MutationObserver(() => {
            const tracker = document.querySelector('#pqa-status [data-testid="status-tracker"]');
            if (tracker && tracker.innerText.trim()) window.__pqaSawLabel(tracker.innerText);
        }).observe(document.body, {subtree: true, childList: true, characterData: true})"""
    )
    name = "拖放上传测试.txt"
    page.evaluate(
        """(name) => {
            const files = new DataTransfer();
            files.items.add(new File(['紫云县2023年新建村级光伏电站18座。\\n'], name, {type: 'text/plain'}));
            const list = document.querySelector('#pqa-documents .pqa-kb');
            list.dispatchEvent(new DragEvent('dragover', {dataTransfer: files, bubbles: true, cancelable: true}));
            list.dispatchEvent(new DragEvent('drop', {dataTransfer: files, bubbles: true, cancelable: true}));
        }""",
        name,
    )
    status = page.locator("#pqa-status")
    status.filter(has_text="索引已更新").wait_for(timeout=BUILD_TIMEOUT_MS)
    assert f"已添加 1 个文件：{name}" in status.inner_text()
    assert (app_server.corpus_dir / name).is_file()
    page.locator(f"#pqa-documents li[data-doc='{name}']").wait_for(timeout=30_000)
    shown = " ".join(labels)
    assert "processing" not in shown and "queue:" not in shown, shown
    page.locator(f"#pqa-documents li[data-doc='{name}']").get_by_role("button", name="删除", exact=False).click()
    status.filter(has_text="已删除").wait_for(timeout=BUILD_TIMEOUT_MS)
    assert not (app_server.corpus_dir / name).exists()


def test_the_knowledge_base_is_cards_at_phone_width(open_tab, artifacts):
    page = open_tab(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).page
    wait_for_app(page)
    page.get_by_role("tab", name="知识库").click()
    rows = page.locator("#pqa-documents li[data-doc]")
    rows.first.wait_for(timeout=30_000)
    assert not page.locator("#pqa-documents .pqa-kb-head").is_visible()
    first = rows.first.bounding_box()
    assert first["width"] > 0.7 * 390, "a row is not a full-width card"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways"
    page.screenshot(path=str(artifacts / "library-mobile.png"), full_page=True)
