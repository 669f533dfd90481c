"""One real server for the browser and HTTP tests, and a real Chromium to drive it.

The server is ``policyqa serve`` in a subprocess on a free loopback port, over
a private copy of the corpus and of the session's index (uploads must not touch
the shared ones). Chromium is the system's /usr/bin/chromium (installed by
.ci/run); no browser is ever downloaded.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import CACHE, REPO, empty_config, free_port, stop

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# The one foreign origin the test server allows (CORS and frame-ancestors).
ALLOWED_ORIGIN = "http://intranet.test:8080"
ARTIFACTS = REPO / "tests" / "artifacts"
SERVER_START_TIMEOUT_S = 180
# The server with login (tests/e2e/test_access.py): two users and an API token.
ADMIN = ("admin", "admin-pass-1")
READER = ("reader", "reader-pass-1")
API_TOKEN = "e2e-token-0123456789"
AUTH_RATE_LIMIT_PER_MINUTE = 30


@dataclass
class AppServer:
    """A running server: its URL and folders."""

    url: str
    corpus_dir: Path
    log: Path
    process: subprocess.Popen = field(repr=False)


class _IntranetPage(BaseHTTPRequestHandler):
    """Another site's page that embeds the app named in ?app= (iframe and web component)."""

    def do_GET(self):
        app = html.escape(parse_qs(urlsplit(self.path).query).get("app", [""])[0], quote=True)
        body = (
            "<!doctype html><meta charset='utf-8'><title>intranet</title>"
            f"<iframe id='frame' src='{app}/' style='width:1000px;height:700px'></iframe>"
            f"<script type='module' src='{app}/gradio.js'></script>"
            f"<div id='component'><gradio-app src='{app}/' eager='true'></gradio-app></div>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@dataclass
class IntranetSites:
    """Two pages on other origins (other loopback ports): one allowed to embed the app, one not."""

    allowed: str
    blocked: str


@pytest.fixture(scope="session")
def intranet_sites():
    """Serves _IntranetPage on two free loopback ports for the whole session."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _IntranetPage) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    allowed, blocked = (f"http://127.0.0.1:{server.server_address[1]}" for server in servers)
    yield IntranetSites(allowed, blocked)
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="session")
def app_server(built_index, tmp_path_factory, intranet_sites) -> AppServer:
    """``policyqa serve`` on a free loopback port, over private copies of corpus and index."""
    yield from _serve(
        built_index,
        tmp_path_factory.mktemp("app"),
        {"POLICYQA_ALLOWED_ORIGINS": f"{ALLOWED_ORIGIN},{intranet_sites.allowed}"},
    )


@pytest.fixture(scope="session")
def auth_server(built_index, tmp_path_factory) -> AppServer:
    """A second server with a users file (ADMIN, READER), API_TOKEN and a rate limit."""
    from ui.security import hash_password

    root = tmp_path_factory.mktemp("auth-app")
    users = root / "users.txt"
    users.write_text(
        f"# e2e users\n{ADMIN[0]}:{hash_password(ADMIN[1])}:admin\n{READER[0]}:{hash_password(READER[1])}:user\n",
        encoding="utf-8",
    )
    yield from _serve(
        built_index,
        root,
        {
            "POLICYQA_AUTH": str(users),
            "POLICYQA_API_TOKEN": API_TOKEN,
            "POLICYQA_RATE_LIMIT_PER_MINUTE": str(AUTH_RATE_LIMIT_PER_MINUTE),
        },
        health_headers={"Authorization": f"Bearer {API_TOKEN}"},
    )


@pytest.fixture(scope="session")
def watch_server(built_index, tmp_path_factory) -> AppServer:
    """A server watching its corpus folder (``serve --watch``), polling fast for the tests."""
    yield from _serve(
        built_index,
        tmp_path_factory.mktemp("watch-app"),
        {"POLICYQA_WATCH": "1", "POLICYQA_WATCH_INTERVAL_S": "0.3", "POLICYQA_WATCH_DEBOUNCE_S": "1.0"},
    )


@pytest.fixture(scope="session")
def llm_endpoint():
    """The fake chat-completions endpoint the LLM server talks to (scripted per test)."""
    from tests.fake_llm import FakeChat

    fake = FakeChat().start()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def llm_server(built_index, tmp_path_factory, llm_endpoint) -> AppServer:
    """A third server whose answers are generated through ``llm_endpoint``."""
    yield from _serve(
        built_index,
        tmp_path_factory.mktemp("llm-app"),
        {
            "POLICYQA_LLM_BASE_URL": llm_endpoint.url,
            "POLICYQA_LLM_MODEL": "fake-model",
            "POLICYQA_LLM_TIMEOUT_S": "10",
            "POLICYQA_LLM_CONTEXT_TOKENS": "32768",
        },
    )


# The real model's replies are cut here in the browser tests: long enough that a Stop clicked
# after the first tokens finds the server still generating, short enough to wait for.
REAL_LLM_ANSWER_TOKENS = 200


@pytest.fixture(scope="session")
def real_llm_server(built_index, tmp_path_factory, llama_server) -> AppServer:
    """A fourth server whose answers are generated by llama.cpp's server (``llama_server``)."""
    yield from _serve(
        built_index,
        tmp_path_factory.mktemp("real-llm-app"),
        {
            "POLICYQA_LLM_BASE_URL": llama_server.base_url,
            "POLICYQA_LLM_TIMEOUT_S": "600",
            "POLICYQA_LLM_ANSWER_TOKENS": str(REAL_LLM_ANSWER_TOKENS),
        },
    )


def burst(url: str, requests: int, **kwargs: object) -> list[int]:
    """The status codes of ``requests`` POSTs sent at once over kept-alive connections, sorted.

    The limiter refills one request every 60 / AUTH_RATE_LIMIT_PER_MINUTE seconds: one at a time on
    a loaded machine, the burst took long enough for a request to be refilled (a 400 where 429 was due).
    """
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(max_workers=8) as pool:
        return sorted(pool.map(lambda _: client.post(url, **kwargs).status_code, range(requests)))


def _serve(built_index, root: Path, env_extra: dict[str, str], health_headers: dict | None = None):
    """Run ``policyqa serve`` over copies of the session's corpus and index in ``root``; stop it after."""
    corpus, index = root / "corpus", root / "index"
    shutil.copytree(built_index.corpus_dir, corpus)
    for path in corpus.iterdir():
        path.chmod(0o644)
    shutil.copytree(built_index.index_dir, index, ignore=shutil.ignore_patterns(".lock"))
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "POLICYQA_CONFIG": empty_config(root),  # ignore any policyqa.toml of the developer
        "POLICYQA_CORPUS_DIR": str(corpus),
        "POLICYQA_INDEX_DIR": str(index),
        "POLICYQA_CACHE_DIR": str(CACHE),
        "POLICYQA_HOST": "127.0.0.1",
        "POLICYQA_PORT": str(port),
        **env_extra,
    }
    log = root / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "serve"], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = AppServer(f"http://127.0.0.1:{port}", corpus, log, process)
    try:
        _wait_until_healthy(server, health_headers or {})
        yield server
    finally:
        stop(process)


def _wait_until_healthy(server: AppServer, headers: dict) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"the server exited with {server.process.returncode}:\n{server.log.read_text()[-3000:]}")
        try:
            if httpx.get(server.url + "/api/health", headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    log = server.log.read_text()[-3000:]
    pytest.fail(f"the server did not answer /api/health in {SERVER_START_TIMEOUT_S} s:\n{log}")


@pytest.fixture(scope="session")
def browser():
    """Headless system Chromium."""
    if not CHROMIUM.exists():
        pytest.fail("the browser tests need Chromium: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A browser page with everything it requested and every dialog it opened."""

    page: object
    base_url: str
    requests: list[str] = field(default_factory=list)
    dialogs: list[tuple[str, str]] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        """Requests to any host other than the app's own (data: and blob: URLs are local)."""
        own = urlsplit(self.base_url).netloc
        return [
            url for url in self.requests if urlsplit(url).scheme not in {"data", "blob"} and urlsplit(url).netloc != own
        ]


@pytest.fixture
def open_tab(browser, app_server):
    """Opens pages in fresh browser contexts (Chinese locale); closes them after the test.

    ``server=`` opens another server's page (default: ``app_server``).
    """
    contexts = []

    def open_(path: str = "/", server: AppServer | None = None, **context_options) -> Tab:
        server = server or app_server
        options = {"locale": "zh-CN", "viewport": {"width": 1366, "height": 900}, **context_options}
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        tab = Tab(page, server.url)
        page.on("request", lambda request: tab.requests.append(request.url))

        def on_dialog(dialog):
            tab.dialogs.append((dialog.type, dialog.message))
            dialog.accept()  # confirms "delete?"; an alert would be recorded, which tests forbid

        page.on("dialog", on_dialog)
        page.goto(server.url + path)
        return tab

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """tests/artifacts/ (ignored by git): screenshots for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
