"""Generated answers in real Chromium.

Against llama.cpp's server with SmolLM2-135M (tests/llama_server.py): the model's tokens
stream into the chat, the checked answer follows with the model's speed under it, and Stop
closes the stream so that the server stops generating. Against the loopback double of
tests/fake_llm.py, for what no real model writes on cue: an invented figure is marked, an
HTTP 500 falls back visibly, and the OpenAI API streams a repaired, cited answer.
"""

from __future__ import annotations

import re

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


# --- against llama.cpp's server with SmolLM2-135M (n_ctx 2048, 2 threads) -----------------------

# Reading the prompt and writing 200 tokens on a busy 2-core machine takes minutes.
REAL_LLM_TIMEOUT_MS = 600_000
SPEED = re.compile(r"大模型：首个词元 \d+\.\d 秒，每秒 \d+\.\d 个词元")


def _send(page, question: str) -> int:
    """Type and send a question; returns how many chat messages there were before."""
    before = page.locator("#pqa-chat .pqa-msg").count()
    page.fill("#pqa-question textarea", question)
    page.keyboard.press("Enter")
    return before


def _wait_for_streamed_tokens(page, before: int) -> str:
    """Wait until the answer being written shows text; returns that text."""
    page.wait_for_function(
        """(n) => {
            const all = document.querySelectorAll('#pqa-chat .pqa-msg');
            if (all.length <= n) return false;
            const last = all[all.length - 1];
            const text = last.querySelector('.pqa-text');
            return !!last.querySelector('.pqa-cursor') && !!text && text.innerText.trim().length > 0;
        }""",
        arg=before,
        timeout=REAL_LLM_TIMEOUT_MS,
    )
    return page.locator("#pqa-chat .pqa-msg").last.locator(".pqa-text").inner_text()


def test_the_real_models_tokens_stream_into_the_chat_then_the_checked_answer_with_its_speed(
    open_tab, real_llm_server, llama_server, artifacts
):
    tab = open_tab(server=real_llm_server)
    page = tab.page
    wait_for_app(page)
    before = _send(page, QUESTION)
    streamed = _wait_for_streamed_tokens(page, before)
    assert streamed.strip(), "no token of the model was shown while it wrote"
    page.wait_for_function(
        """(n) => {
            const all = document.querySelectorAll('#pqa-chat .pqa-msg');
            const last = all[all.length - 1];
            return all.length > n && !last.classList.contains('pqa-pending') && !last.querySelector('.pqa-cursor');
        }""",
        arg=before,
        timeout=REAL_LLM_TIMEOUT_MS,
    )
    answer = page.locator("#pqa-chat .pqa-msg").last
    # SmolLM2 cites nothing, so the checked answer is the extractive one, with the reason.
    assert STATED in answer.locator(".pqa-text").inner_text()
    notes = answer.locator(".pqa-note").all_inner_texts()
    assert any("没有标注引用来源" in note for note in notes), notes
    assert SPEED.fullmatch(answer.locator(".pqa-speed").inner_text()), answer.locator(".pqa-speed").inner_text()
    page.screenshot(path=str(artifacts / "chat-llm-real.png"))
    assert tab.foreign_requests() == []
    assert llama_server.wait_idle()


def test_stop_closes_the_stream_and_the_server_stops_generating(open_tab, real_llm_server, llama_server):
    assert llama_server.wait_idle()
    page = open_tab(server=real_llm_server).page
    wait_for_app(page)
    log_start = len(llama_server.log.read_bytes())
    before = _send(page, QUESTION)
    _wait_for_streamed_tokens(page, before)
    # Clicked at once where it stands: Gradio re-renders the button while tokens stream, so
    # Playwright's wait for a stable element can outlast a short generation on a loaded machine.
    page.get_by_role("button", name="停止").evaluate("button => button.click()")
    assert llama_server.wait_idle(timeout_s=60), "the server was still generating a minute after Stop"
    log = llama_server.log.read_bytes()[log_start:].decode("utf-8", "replace")
    # llama.cpp logs 「stop: cancel task」 when the client closes the stream; a reply that ran
    # to its budget of REAL_LLM_ANSWER_TOKENS (SmolLM2 repeats itself until cut off) ends without it.
    assert "launch_slot_" in log and "cancel task" in log, f"the generation was not stopped:\n{log[-2000:]}"
