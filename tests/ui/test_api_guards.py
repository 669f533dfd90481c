"""The API's guards over the real ASGI stack, without a model: 413, 401, 429 and 503."""

from __future__ import annotations

import base64
import threading

import pytest
from fastapi.testclient import TestClient

from index.library import LibrarySummary
from index.settings import Settings
from qa.types import Answer
from ui.api import create_api
from ui.security import Guards, hash_password

ORIGIN = "https://oa.example.gov.cn"


class FakePipeline:
    """Answers at once, or, when ``hold`` is set, only once the test releases it."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.started = threading.Event()
        self.release = threading.Event()

    def ask(self, question, history=None, top_k=None):
        if self.hold:
            self.started.set()
            assert self.release.wait(10), "the test never released the answer"
        return Answer(question, False, "根据现有文档，无法回答这个问题。", (), (), {"total": 1.0})


class FakeLibrary:
    def summary(self):
        return LibrarySummary(documents=2, chunks=7, model_id="m", built_at="2026-01-01T00:00:00")


def _client(pipeline=None, **settings) -> TestClient:
    config = Settings(allowed_origins=(ORIGIN,), **settings)
    return TestClient(create_api(config, pipeline or FakePipeline(), FakeLibrary(), Guards.from_settings(config)))


def test_a_body_over_the_limit_is_413_before_it_is_read():
    client = _client(max_request_kb=1)
    response = client.post("/api/ask", json={"question": "问" * 2000})
    assert response.status_code == 413
    assert response.json()["error"].startswith("请求体太大（上限 1 KB）")
    assert client.post("/api/ask", json={"question": "问" * 100}).status_code == 200


def test_a_body_without_length_is_refused_once_past_the_limit():
    # TestClient sends the whole body first; tests/e2e/test_http.py checks over a socket
    # that the server answers before the rest is sent.
    def chunks():
        for _ in range(8):
            yield b"x" * 1024

    response = _client(max_request_kb=1).post(
        "/api/ask", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and "请求体太大" in response.json()["error"]


def test_uploads_are_not_held_to_the_request_limit():
    # Gradio's upload route (not mounted here) has its own limit; ours must not answer for it.
    assert _client(max_request_kb=1).post("/gradio_api/upload", content=b"x" * 4096).status_code == 404


def test_token_is_required_when_set():
    client = _client(api_token="s3cret-token")
    for path, call in (("/api/ask", client.post), ("/api/health", client.get)):
        refused = call(path, json={"question": "扶贫日是哪一天？"}) if path == "/api/ask" else call(path)
        assert refused.status_code == 401, path
        assert "需要身份验证" in refused.json()["error"] and "Bearer" in refused.headers["www-authenticate"]
        wrong = {"Authorization": "Bearer s3cret-tokeN"}
        assert (
            call(path, headers=wrong, json={"question": "q"}) if path == "/api/ask" else call(path, headers=wrong)
        ).status_code == 401
    good = {"Authorization": "Bearer s3cret-token"}
    assert client.post("/api/ask", json={"question": "扶贫日是哪一天？"}, headers=good).json()["answered"] is False
    assert client.get("/api/health", headers=good).json()["status"] == "ok"
    assert client.get("/docs").status_code == 200  # the docs page itself is public


def test_users_file_allows_http_basic(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text(f"bob:{hash_password('reader-pass-1')}:user\n", encoding="utf-8")
    client = _client(auth=str(users))
    basic = base64.b64encode(b"bob:reader-pass-1").decode()
    assert client.get("/api/health", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    bad = base64.b64encode(b"bob:guess").decode()
    assert client.get("/api/health", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    assert client.get("/api/health").status_code == 401


def test_refusals_carry_cors_headers_for_allowed_origins():
    client = _client(api_token="s3cret-token")
    refused = client.post("/api/ask", json={"question": "q"}, headers={"Origin": ORIGIN})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ORIGIN
    preflight = client.options(
        "/api/ask",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200  # preflights carry no credentials and are not refused


def test_rate_limit_is_429_after_n_with_retry_after():
    client = _client(rate_limit_per_minute=3)
    statuses = [client.post("/api/ask", json={"question": "扶贫日是哪一天？"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.post("/api/ask", json={"question": "扶贫日是哪一天？"})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 20
    assert limited.json()["error"].startswith("提问太频繁")
    assert client.get("/api/health").status_code == 200  # only /api/ask is limited


def test_the_limit_counts_before_credentials_are_checked():
    client = _client(rate_limit_per_minute=2, api_token="s3cret-token")
    statuses = [client.post("/api/ask", json={"question": "q"}).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]  # guessing tokens is limited too


def test_a_saturated_pool_is_503_busy_with_retry_after():
    pipeline = FakePipeline(hold=True)
    client = _client(pipeline, ask_workers=1, ask_queue_size=0)
    first = {}
    holder = threading.Thread(
        target=lambda: first.update(response=client.post("/api/ask", json={"question": "扶贫日是哪一天？"}))
    )
    holder.start()
    try:
        assert pipeline.started.wait(10)
        busy = client.post("/api/ask", json={"question": "扶贫日是哪一天？"})
        assert busy.status_code == 503
        assert busy.json()["error"].startswith("服务器正忙") and busy.headers["retry-after"] == "2"
        health = client.get("/api/health").json()
        assert (health["answering"], health["waiting"]) == (1, 0)
    finally:
        pipeline.release.set()
        holder.join()
    assert first["response"].status_code == 200
    pipeline.hold = False
    assert client.post("/api/ask", json={"question": "扶贫日是哪一天？"}).status_code == 200


@pytest.mark.parametrize("length", ["abc", "-5"])
def test_a_nonsense_content_length_is_not_a_crash(length):
    response = _client().post(
        "/api/ask", content=b'{"question": "q"}', headers={"content-type": "application/json", "content-length": length}
    )
    assert response.status_code < 500


@pytest.mark.parametrize("body", [b'{"question": "abc\xff\xfe"}', b"[" * 100_000])
def test_a_body_that_cannot_be_parsed_is_a_chinese_400(body):
    response = _client().post("/api/ask", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"].startswith("请求体无法解析")
