"""WCAG 2.1 AA with axe-core (axe-playwright-python, which ships axe-core: nothing is downloaded):
no serious or critical violation on the chat with an answer and its cards open, the 知识库 tab
and the phone layout, in the light and the dark theme. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_browser import FIGURE_QUESTION, ask, open_citation, wait_for_app
from tests.e2e.test_chat_page import LIST_QUESTION

pytestmark = pytest.mark.e2e

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
BLOCKING = ("serious", "critical")
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def _violations(page) -> list[dict]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=WCAG_21_AA)
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "nodes": len(v["nodes"]),
            "where": [n["target"] for n in v["nodes"][:5]],
            "why": v["nodes"][0].get("failureSummary", "")[:300],
        }
        for v in results.response["violations"]
    ]


def _record(artifacts, name: str, found: list[dict]) -> None:
    with open(artifacts / "axe-summary.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps({"view": name, "violations": found}, ensure_ascii=False) + "\n")


def _chat_with_cards_open(page):
    wait_for_app(page)
    ask(page, FIGURE_QUESTION)
    answer = ask(page, LIST_QUESTION)
    answer.locator("details.pqa-more summary").click()
    open_citation(page, answer)
    return answer


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_chat_with_an_answer_and_its_cards_open(open_tab, artifacts, scheme):
    tab = open_tab(color_scheme=scheme)
    page = tab.page
    _chat_with_cards_open(page)
    page.locator("#pqa-question textarea").focus()  # the focus ring is part of what is checked
    page.screenshot(path=str(artifacts / f"chat-desktop-{scheme}.png"))
    found = _violations(page)
    _record(artifacts, f"chat ({scheme})", found)
    assert [v for v in found if v["impact"] in BLOCKING] == []
    assert tab.foreign_requests() == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_knowledge_base_tab(open_tab, artifacts, scheme):
    page = open_tab(color_scheme=scheme).page
    wait_for_app(page)
    page.get_by_role("tab", name="知识库").click()
    page.locator("#pqa-documents li[data-doc]").first.wait_for(timeout=30_000)
    page.locator("#pqa-documents li[data-doc]").first.get_by_role("button", name="预览", exact=False).click()
    page.locator("#pqa-preview .pqa-doc").wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / f"library-{scheme}.png"), full_page=True)
    found = _violations(page)
    _record(artifacts, f"knowledge base ({scheme})", found)
    assert [v for v in found if v["impact"] in BLOCKING] == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_layout(open_tab, artifacts, scheme):
    page = open_tab(color_scheme=scheme, **PHONE).page
    wait_for_app(page)
    ask(page, LIST_QUESTION)
    page.screenshot(path=str(artifacts / f"chat-phone-{scheme}.png"))
    found = _violations(page)
    _record(artifacts, f"phone ({scheme})", found)
    assert [v for v in found if v["impact"] in BLOCKING] == []


def test_the_question_box_shows_where_the_focus_is(open_tab):
    page = open_tab().page
    wait_for_app(page)
    box = page.locator("#pqa-question textarea")
    outline = "e => [getComputedStyle(e).outlineStyle, getComputedStyle(e).outlineWidth]"
    before = box.evaluate(outline)
    box.focus()
    after = box.evaluate(outline)
    assert after != before and after == ["solid", "3px"], (before, after)
    send = page.get_by_role("button", name="发送")
    colours = send.evaluate("b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]")
    assert colours[0] not in ("rgba(0, 0, 0, 0)", "transparent"), "发送 has no button background"
