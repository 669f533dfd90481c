"""A fake OpenAI-compatible chat-completions endpoint: a real HTTP server on 127.0.0.1.

The tests that a real model can serve run against llama.cpp's server (tests/llama_server.py);
this double scripts what no real model can be made to write on cue: a correct cited answer,
malformed markers, an invented figure, the fixed refusal, a given rewrite of a follow-up, an
HTTP 500 and a hang. It answers only chat completions (404 elsewhere, so it says nothing
about its context).
"""

from __future__ import annotations

import json
import re
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    """What the fake server does with one request."""

    kind: str  # "sse" | "json" | "status" | "hang"
    text: str = ""
    status: int = 200


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class FakeChat:
    """An OpenAI-compatible chat-completions server with a scripted reply per request."""

    script: Callable[[dict], Reply] = lambda body: Reply("sse", "没有脚本。")
    received: list[Received] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> FakeChat:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):  # no /props: the fake says nothing about its context
                self._send(404, "application/json", json.dumps({"error": {"message": "not found"}}))

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self.path.endswith("/chat/completions"):  # not an Ollama (/api/show) either
                    self._send(404, "application/json", json.dumps({"error": {"message": "not found"}}))
                    return
                fake.received.append(Received(self.path, dict(self.headers), body))
                reply = fake.script(body)
                if reply.kind == "hang":
                    fake.stop.wait(30)
                    return
                if reply.kind == "status":
                    self._send(reply.status, "application/json", json.dumps({"error": {"message": "boom"}}))
                elif reply.kind == "json":
                    message = {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text}}]}
                    self._send(200, "application/json", json.dumps(message, ensure_ascii=False))
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                    self.end_headers()
                    self.wfile.write(b": keep-alive comment\n\n")
                    for i in range(0, len(reply.text), 3):  # three characters per event
                        chunk = {"choices": [{"index": 0, "delta": {"content": reply.text[i : i + 3]}}]}
                        self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(0.005)
                    self.wfile.write(b'data: {"choices": [], "usage": {"total_tokens": 9}}\n\ndata: [DONE]\n\n')

            def _send(self, status: int, content_type: str, text: str) -> None:
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def passages_of(body: dict) -> dict[int, str]:
    """The numbered passages of a prompt: number → header and text."""
    user = body["messages"][-1]["content"]
    parts = re.split(r"^\[(\d+)\] ", user.split("\n\n问题：")[0], flags=re.M)
    return {int(n): text for n, text in zip(parts[1::2], parts[2::2])}


def passage_with(body: dict, needle: str) -> int:
    """The number of the first passage of the prompt that contains ``needle``."""

    def bare(s: str) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))

    return next(n for n, text in passages_of(body).items() if bare(needle) in bare(text))


def answering(make_text: Callable[[dict], str]) -> Callable[[dict], Reply]:
    """A script streaming ``make_text(body)`` for answer requests."""
    return lambda body: Reply("sse", make_text(body))
