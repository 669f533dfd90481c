"""Login, tokens, admin-only changes and rate limits on a real server started with a users file."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from tests.e2e.conftest import ADMIN, API_TOKEN, AUTH_RATE_LIMIT_PER_MINUTE, READER, burst
from tests.e2e.test_browser import ask, wait_for_app

pytestmark = pytest.mark.e2e

QUESTION = "国务院将哪一天确定为扶贫日？"
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}


def _basic(name: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def test_api_needs_the_token_or_a_user(auth_server):
    url = auth_server.url + "/api/ask"
    refused = httpx.post(url, json={"question": QUESTION}, timeout=60)
    assert refused.status_code == 401 and "需要身份验证" in refused.json()["error"]
    assert httpx.get(auth_server.url + "/api/health").status_code == 401
    assert httpx.post(url, json={"question": QUESTION}, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert (
        httpx.post(url, json={"question": QUESTION}, headers=_basic(READER[0], "nope"), timeout=60).status_code == 401
    )
    for headers in (BEARER, _basic(*READER)):
        answered = httpx.post(url, json={"question": QUESTION}, headers=headers, timeout=60)
        assert answered.status_code == 200 and "10月17日" in answered.json()["answer"]


def test_the_web_app_needs_a_login(auth_server):
    assert httpx.get(auth_server.url + "/config").status_code == 401
    assert httpx.post(auth_server.url + "/gradio_api/call/ask", json={"data": [QUESTION, [], None]}).status_code == 401
    wrong = httpx.post(auth_server.url + "/login", data={"username": READER[0], "password": "nope"})
    assert wrong.status_code == 400
    with httpx.Client(base_url=auth_server.url) as session:
        assert session.post("/login", data={"username": READER[0], "password": READER[1]}).json() == {"success": True}
        assert session.get("/config").status_code == 200


def test_gradio_client_logs_in(auth_server):
    from gradio_client import Client

    client = Client(auth_server.url + "/", auth=READER, verbose=False)
    assert "10月17日" in client.predict(QUESTION, api_name="/ask")["answer"]


def _log_in(open_tab, auth_server, user: tuple[str, str]):
    page = open_tab(server=auth_server).page
    page.locator("input[type=password]").wait_for(timeout=30_000)
    assert page.locator("#pqa-question").count() == 0, "the chat showed before login"
    page.locator("input[type=text]").fill(user[0])
    page.locator("input[type=password]").fill(user[1])
    page.get_by_role("button", name="登录").click()
    wait_for_app(page)
    return page


def test_a_reader_may_ask_but_not_change_the_knowledge_base(open_tab, auth_server, tmp_path):
    page = _log_in(open_tab, auth_server, READER)
    assert "10月17日" in ask(page, QUESTION).locator(".pqa-text").inner_text()
    page.get_by_role("tab", name="知识库").click()
    status = page.locator("#pqa-status")
    status.filter(has_text="只有管理员可以上传、删除文件或更新索引").wait_for(timeout=30_000)
    for control in ("#pqa-upload", "#pqa-reindex"):
        assert page.locator(control).is_disabled(), control
    rows = page.locator("#pqa-documents li[data-doc]")
    rows.first.wait_for(timeout=30_000)
    assert rows.get_by_role("button", name="预览").count() == rows.count()
    assert page.locator("#pqa-documents button[data-do=edit], #pqa-documents button[data-do=delete]").count() == 0
    # A page tampered with to offer 删除 or enable the buttons still changes nothing: the server checks the role.
    first = rows.first.get_attribute("data-doc")
    page.evaluate(
        """() => document.querySelector('#pqa-documents li[data-doc]').insertAdjacentHTML(
            'beforeend', '<button class="pqa-kb-act" data-do="delete" id="forged">删除</button>')"""
    )
    page.click("#forged")
    status.filter(has_text="没有执行").wait_for(timeout=30_000)
    assert (auth_server.corpus_dir / first).is_file()
    page.evaluate("document.querySelectorAll('#pqa-upload, #pqa-reindex').forEach(b => b.removeAttribute('disabled'))")
    page.click("#pqa-reindex", force=True)
    status.filter(has_text="没有执行").wait_for(timeout=30_000)
    upload = tmp_path / "读者上传.txt"
    upload.write_text("读者不应能上传的文件。\n", encoding="utf-8")
    with page.expect_file_chooser() as chooser:
        page.click("#pqa-upload", force=True)
    chooser.value.set_files(str(upload))
    time.sleep(3)  # the upload and its event would have finished by now
    assert not (auth_server.corpus_dir / upload.name).exists()
    assert "没有执行" in status.inner_text() and "已添加" not in status.inner_text()


def test_an_admin_may_change_the_knowledge_base(open_tab, auth_server):
    page = _log_in(open_tab, auth_server, ADMIN)
    page.get_by_role("tab", name="知识库").click()
    page.locator("#pqa-documents").filter(has_text="txt").wait_for(timeout=30_000)
    for control in ("#pqa-upload", "#pqa-reindex"):
        assert page.locator(control).is_enabled(), control
    rows = page.locator("#pqa-documents li[data-doc]")
    assert rows.get_by_role("button", name="删除").count() == rows.count() >= 5
    page.click("#pqa-reindex")
    page.locator("#pqa-status").filter(has_text="索引已是最新").wait_for(timeout=60_000)


def test_ask_is_rate_limited_per_client(auth_server):
    # uvicorn takes the client address from X-Forwarded-For when the proxy is on loopback, as
    # here: this test is a client of its own, whatever the other tests asked.
    client = {"X-Forwarded-For": "10.11.12.13", **BEARER}
    statuses = burst(
        auth_server.url + "/api/ask", AUTH_RATE_LIMIT_PER_MINUTE + 1, json={"question": ""}, headers=client
    )
    assert statuses == [400] * AUTH_RATE_LIMIT_PER_MINUTE + [429]
    limited = httpx.post(auth_server.url + "/api/ask", json={"question": QUESTION}, headers=client)
    assert limited.status_code == 429 and limited.json()["error"].startswith("提问太频繁")
    assert int(limited.headers["retry-after"]) >= 1
    other = {"X-Forwarded-For": "10.11.12.14", **BEARER}
    assert (
        httpx.post(auth_server.url + "/api/ask", json={"question": QUESTION}, headers=other, timeout=60).status_code
        == 200
    )


def test_serving_the_network_without_login_is_refused(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO, empty_config

    env = {**os.environ, "PYTHONPATH": str(REPO), "POLICYQA_CONFIG": empty_config(tmp_path)}
    env.pop("POLICYQA_AUTH", None)
    env.pop("POLICYQA_ALLOW_UNAUTHENTICATED", None)
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "ui.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "refusing to listen on 0.0.0.0 without login" in run.stderr
    assert "POLICYQA_AUTH" in run.stderr and "--allow-remote" in run.stderr
    assert time.perf_counter() - started < 30  # refused before the model is loaded
