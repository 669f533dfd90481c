"""The REST API, docs, headers and Gradio's client API over real HTTP to the real server."""

from __future__ import annotations

import httpx
import pytest

from qa.pipeline import answer_to_json
from qa.types import Answer, Citation, Hit
from tests.e2e.conftest import ALLOWED_ORIGIN

pytestmark = pytest.mark.e2e

QUESTION = "国务院将哪一天确定为扶贫日？"


def _keys_of_answer_to_json() -> tuple[set, set, set]:
    """The keys answer_to_json writes (top level, citation, passage), from a hand-made answer."""
    answer = Answer(
        "q", True, "a[1]", (Citation(1, "d", "t", None, "s", 0, 1, "p", 0, 1),),
        (Hit(0, "d", "t", None, "p", 0, 1, 0.5),), {"total": 1.0},
    )
    data = answer_to_json(answer)
    return set(data), set(data["citations"][0]), set(data["passages"][0])


def test_health(app_server):
    response = httpx.get(app_server.url + "/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["documents"] >= 5 and body["chunks"] > 0


def test_ask_returns_the_object_of_policyqa_ask_json(app_server, pipeline):
    response = httpx.post(app_server.url + "/api/ask", json={"question": QUESTION, "id": "q1"}, timeout=60)
    assert response.status_code == 200
    got = response.json()
    top, citation, passage = _keys_of_answer_to_json()
    assert set(got) == top
    assert all(set(c) == citation for c in got["citations"]) and all(set(p) == passage for p in got["passages"])
    expected = answer_to_json(pipeline.ask(QUESTION), "q1")  # the same index and model, in-process
    for key in ("id", "question", "answered", "answer", "citations"):
        assert got[key] == expected[key], key
    assert [(p["source"], p["start"]) for p in got["passages"]] == [
        (p["source"], p["start"]) for p in expected["passages"]
    ]
    assert "10月17日" in got["answer"]


def test_ask_with_history_answers_a_follow_up(app_server):
    earlier = {"role": "user", "content": "中央层面共安排多少个单位定点帮扶贫困县？"}
    body = {"question": "军队和武警部队呢？", "history": [earlier]}
    got = httpx.post(app_server.url + "/api/ask", json=body, timeout=60).json()
    assert got["answered"] and "3500" in got["answer"]


def test_ask_top_k_limits_passages(app_server):
    got = httpx.post(app_server.url + "/api/ask", json={"question": QUESTION, "top_k": 2}, timeout=60).json()
    assert len(got["passages"]) == 2


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"question": ""}, 400, "请输入问题"),
        ({"question": "问" * 5000}, 400, "问题太长"),
        ({"question": QUESTION, "top_k": 0}, 400, "top_k"),
        ({"question": 5}, 422, "question"),
        ({}, 422, "question"),
        ({"question": QUESTION, "top_k": "lots"}, 422, "top_k"),
        ("not json", 422, "JSON"),
    ],
)
def test_bad_input_is_a_4xx_json_error_with_a_message(app_server, body, status, message):
    if isinstance(body, str):
        response = httpx.post(app_server.url + "/api/ask", content=body, headers={"content-type": "application/json"})
    else:
        response = httpx.post(app_server.url + "/api/ask", json=body, timeout=60)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert "Traceback" not in response.text


def test_cors_only_for_the_configured_origin(app_server):
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            app_server.url + "/api/ask",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )

    allowed = preflight(ALLOWED_ORIGIN)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "access-control-allow-origin" not in preflight("http://evil.test").headers
    for path in ("/api/health", "/config", "/"):
        headers = httpx.get(app_server.url + path, headers={"Origin": "http://evil.test"}).headers
        assert "access-control-allow-origin" not in headers, path


@pytest.mark.parametrize("path", ["/", "/embed", "/api/health", "/docs"])
def test_frame_ancestors_allow_only_self_and_the_configured_origins(app_server, intranet_sites, path):
    response = httpx.get(app_server.url + path)
    assert response.status_code == 200
    policy = f"frame-ancestors 'self' {ALLOWED_ORIGIN} {intranet_sites.allowed}"
    assert response.headers["content-security-policy"] == policy


def test_docs_and_openapi_work_offline(app_server):
    docs = httpx.get(app_server.url + "/docs").text
    assert "/docs-static/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert httpx.get(app_server.url + "/docs-static/swagger-ui-bundle.js").status_code == 200
    schema = httpx.get(app_server.url + "/openapi.json").json()
    assert {"/api/ask", "/api/health"} <= set(schema["paths"])


def test_embed_page_names_this_server_and_its_own_web_component_script(app_server):
    page = httpx.get(app_server.url + "/embed").text
    assert f'<script type="module" src="{app_server.url}/gradio.js"></script>' in page
    assert f'<iframe id="pqa-iframe" src="{app_server.url}/"' in page
    assert httpx.get(app_server.url + "/gradio.js").status_code == 200


def test_gradio_client_api_keeps_working(app_server):
    from gradio_client import Client

    client = Client(app_server.url + "/", verbose=False)
    data = client.predict(QUESTION, api_name="/ask")
    assert set(data) == _keys_of_answer_to_json()[0] and "10月17日" in data["answer"]
    chat_html = client.predict(QUESTION, api_name="/chat")
    assert "10月17日" in str(chat_html) and "pqa-card" in str(chat_html)
