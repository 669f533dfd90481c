"""Generated answers in real Chromium: an invented figure is marked, a failing endpoint falls back visibly.

The server is the real one, configured with POLICYQA_LLM_BASE_URL pointing at the fake
chat-completions endpoint of tests/fake_llm.py (a real HTTP server on 127.0.0.1).
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.test_browser import ask, wait_for_app
from tests.fake_llm import Reply, answering, passage_with

pytestmark = pytest.mark.e2e

QUESTION = "脱贫攻坚8年间，中央财政累计投入了多少专项扶贫资金？"
STATED = "6601"  # what the corpus says (checked below in the prompt the endpoint receives)
INVENTED = "7200亿元"


def test_an_invented_figure_is_marked_in_the_chat_and_in_the_api(open_tab, llm_server, llm_endpoint, artifacts):
    llm_endpoint.script = answering(lambda body: f"中央财政累计投入{INVENTED}[{passage_with(body, STATED)}]。")
    tab = open_tab(server=llm_server)
    page = tab.page
    wait_for_app(page)
    answer = ask(page, QUESTION)

    text = answer.locator(".pqa-text").inner_text()
    assert INVENTED in text and '">' not in text, "the mark's markup leaked into the text"
    mark = answer.locator(".pqa-unverified")
    assert mark.count() == 1 and INVENTED in mark.inner_text()
    assert INVENTED in answer.locator(".pqa-unverified-note").inner_text()
    page.screenshot(path=str(artifacts / "chat-llm-unverified.png"))
    assert tab.foreign_requests() == []

    reply = httpx.post(llm_server.url + "/api/ask", json={"question": QUESTION}, timeout=60).json()
    assert [(f["text"], f["verified"]) for f in reply["figures"]] == [(INVENTED, False)]
    assert mark.get_attribute("title") == "未核实：" + reply["figures"][0]["reason"], "the tooltip says why"


def test_a_failing_endpoint_falls_back_to_the_extractive_answer_with_a_note(open_tab, llm_server, llm_endpoint):
    llm_endpoint.script = lambda body: Reply("status", status=500)
    page = open_tab(server=llm_server).page
    wait_for_app(page)
    answer = ask(page, QUESTION)

    assert STATED in answer.locator(".pqa-text").inner_text()
    notes = answer.locator(".pqa-note").all_inner_texts()
    assert any("HTTP 500" in note and "摘录式" in note for note in notes), notes
    assert answer.locator(".pqa-unverified").count() == 0

    reply = httpx.post(llm_server.url + "/api/ask", json={"question": QUESTION}, timeout=60).json()
    assert reply["answered"] and any("HTTP 500" in note for note in reply["notes"])


def test_the_openai_api_streams_a_generated_answer_token_by_token(llm_server, llm_endpoint):
    import openai

    llm_endpoint.script = answering(lambda body: f"中央财政累计投入{STATED}亿元【{passage_with(body, STATED)}】。")
    client = openai.OpenAI(base_url=llm_server.url + "/v1", api_key="any", max_retries=0, timeout=60)
    chunks = list(
        client.chat.completions.create(model="policyqa", messages=[{"role": "user", "content": QUESTION}], stream=True)
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 3, pieces
    text = "".join(pieces)
    final = chunks[-1].model_extra["policyqa"]
    # The model wrote 【n】; the checked answer (markers repaired) follows the streamed tokens.
    assert "【" in text and "——（核对后的回答）——" in text
    citation = final["citations"][0]
    assert f"\n来源：\n- [1] {citation['title']}，" in text and text.endswith("」")
    assert final["answer"].count("[1]") == 1 and final["figures"][0]["verified"] is True
