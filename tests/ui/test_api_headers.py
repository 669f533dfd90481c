"""The API's defaults without a model: same-origin only, errors as JSON, origins validated."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from index.errors import ConfigError, QuestionError
from index.library import LibrarySummary
from index.settings import Settings
from ui.api import check_origins, create_api, frame_ancestors
from ui.version import app_version


class FakePipeline:
    def ask(self, question, history=None, top_k=None):
        raise QuestionError("请输入问题。 Please type a question.")


class FakeLibrary:
    def summary(self):
        return LibrarySummary(documents=2, chunks=7, model_id="m", built_at="2026-01-01T00:00:00")


def _client(origins: tuple[str, ...] = ()) -> TestClient:
    return TestClient(create_api(Settings(allowed_origins=origins), FakePipeline(), FakeLibrary()))


def test_default_is_same_origin_only():
    response = _client().get("/api/health", headers={"Origin": "https://elsewhere.example"})
    assert response.json() == {
        "status": "ok",
        "version": app_version(),
        "documents": 2,
        "chunks": 7,
        "model": "m",
        "index_built_at": "2026-01-01T00:00:00",
        "answering": 0,
        "waiting": 0,
    }
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"


def test_allowed_origin_may_call_and_frame():
    client = _client(("https://oa.example.gov.cn",))
    preflight = client.options(
        "/api/ask",
        headers={"Origin": "https://oa.example.gov.cn", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["access-control-allow-origin"] == "https://oa.example.gov.cn"
    response = client.get("/api/health")
    assert response.headers["content-security-policy"] == "frame-ancestors 'self' https://oa.example.gov.cn"
    assert "x-frame-options" not in response.headers


def test_question_errors_are_400_with_a_message():
    response = _client().post("/api/ask", json={"question": ""})
    assert response.status_code == 400
    assert response.json() == {"error": "请输入问题。 Please type a question."}


@pytest.mark.parametrize(
    "origins", [("oa.example.gov.cn",), ("https://oa.example.gov.cn/path",), ("https://a.cn; script-src *",)]
)
def test_origins_that_are_not_origins_are_refused(origins):
    with pytest.raises(ConfigError, match="is not an origin"):
        check_origins(origins)


def test_frame_ancestors_lists_self_first():
    assert (
        frame_ancestors(("https://a.cn", "http://b.cn:8080")) == "frame-ancestors 'self' https://a.cn http://b.cn:8080"
    )
