"""Load test: many concurrent clients asking questions of a running server on loopback.

Not part of the test suite (pytest does not collect this file). Each client asks,
waits for the reply, and asks again until the time is up; a single client first
measures the baseline. Reported per phase: requests/s, p50/p95/p99 latency of
answered requests, errors, and the deliberate refusals counted apart ("busy"
503 replies, rate-limited 429 replies).

    # start a server over .index on a free port (rate limit off), test, stop it:
    .venv/bin/python -m bench.load.loadtest --serve --clients 20 --seconds 60
    # or against a server that is already running:
    .venv/bin/python -m bench.load.loadtest --url http://127.0.0.1:7860 --target gradio

``--target api`` drives ``POST /api/ask``; ``--target gradio`` drives the same
answer through Gradio's queue (``/gradio_api/call/ask``, the HTTP queue protocol).
Only loopback URLs are accepted; clients, time and each request are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from ui.security import is_loopback

REPO = Path(__file__).resolve().parents[2]
DEV_SET = REPO / "bench" / "questions" / "dev.jsonl"
# Used when the dev set is not next to the repo: answerable and unanswerable questions.
FALLBACK_QUESTIONS = [
    "国务院将哪一天确定为扶贫日？",
    "中央层面共安排多少个单位定点帮扶贫困县？",
    "脱贫攻坚8年间，中央财政累计投入了多少专项扶贫资金？",
    "火星基地计划在哪一年建成？",
    "乡村振兴战略的总要求是什么？",
]
MAX_CLIENTS = 200
MAX_SECONDS = 600
SERVER_START_TIMEOUT_S = 300
BUSY_TEXT = "服务器正忙"


@dataclass
class Phase:
    """What one phase of the test saw."""

    name: str
    clients: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # answered requests only
    busy: int = 0
    rate_limited: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def summary(self) -> dict:
        done = len(self.latencies_ms) + self.busy + self.rate_limited + sum(self.errors.values())
        ordered = sorted(self.latencies_ms)
        return {
            "phase": self.name,
            "clients": self.clients,
            "seconds": round(self.seconds, 1),
            "requests": done,
            "answered": len(ordered),
            "requests_per_s": round(done / self.seconds, 2) if self.seconds else 0.0,
            "answered_per_s": round(len(ordered) / self.seconds, 2) if self.seconds else 0.0,
            "p50_ms": _percentile(ordered, 50),
            "p95_ms": _percentile(ordered, 95),
            "p99_ms": _percentile(ordered, 99),
            "mean_ms": round(statistics.fmean(ordered), 1) if ordered else None,
            "busy": self.busy,
            "rate_limited": self.rate_limited,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
        }


def _percentile(ordered: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of sorted values (None when there are none)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))
    return round(ordered[int(rank) - 1], 1)


def load_questions() -> list[str]:
    """The dev set's questions, or a few built-in ones."""
    if DEV_SET.is_file():
        rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
        questions = [row["question"] for row in rows if row.get("question")]
        if questions:
            return questions
    return FALLBACK_QUESTIONS


async def ask_api(client: httpx.AsyncClient, base: str, question: str, headers: dict) -> str:
    """One /api/ask request: "ok", "busy", "rate_limited" or an error kind."""
    response = await client.post(f"{base}/api/ask", json={"question": question}, headers=headers)
    if response.status_code == 200:
        return "ok" if "answer" in response.json() else "bad-body"
    if response.status_code == 503 and BUSY_TEXT in response.text:
        return "busy"
    if response.status_code == 429:
        return "rate_limited"
    return f"http-{response.status_code}"


async def ask_gradio(client: httpx.AsyncClient, base: str, question: str, headers: dict) -> str:
    """One answer through Gradio's queue (POST /gradio_api/call/ask, then its event stream)."""
    joined = await client.post(f"{base}/gradio_api/call/ask", json={"data": [question, [], None]}, headers=headers)
    if joined.status_code == 503:
        return "busy"  # Gradio's own queue is full
    if joined.status_code != 200:
        return f"join-http-{joined.status_code}"
    event_id = joined.json()["event_id"]
    event = ""
    async with client.stream("GET", f"{base}/gradio_api/call/ask/{event_id}", headers=headers) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in {"complete", "error"}:
                data = line.split(":", 1)[1]
                if event == "complete":
                    return "ok" if '"answer"' in data else "bad-body"
                return "busy" if BUSY_TEXT in data else "gradio-error"
    return "no-result"


async def run_phase(phase: Phase, base: str, target: str, seconds: float, timeout_s: float, headers: dict) -> Phase:
    """``phase.clients`` clients asking in a loop for ``seconds``; requests in flight then finish."""
    questions = load_questions()
    ask = ask_api if target == "api" else ask_gradio
    limits = httpx.Limits(max_connections=phase.clients + 2, max_keepalive_connections=phase.clients + 2)
    started = time.perf_counter()
    deadline = started + seconds

    async def client_loop(client: httpx.AsyncClient, number: int) -> None:
        turn = number
        while time.perf_counter() < deadline:
            question = questions[turn % len(questions)]
            turn += phase.clients
            sent = time.perf_counter()
            try:
                outcome = await asyncio.wait_for(ask(client, base, question, headers), timeout_s)
            except TimeoutError:
                outcome = "timeout"
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            if outcome == "ok":
                phase.latencies_ms.append((time.perf_counter() - sent) * 1000)
            elif outcome == "busy":
                phase.busy += 1
                await asyncio.sleep(0.2)  # a polite client backs off a little
            elif outcome == "rate_limited":
                phase.rate_limited += 1
                await asyncio.sleep(1)
            else:
                phase.error(outcome)

    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        tasks = [asyncio.create_task(client_loop(client, n)) for n in range(phase.clients)]
        await asyncio.wait_for(asyncio.gather(*tasks), seconds + timeout_s + 5)
    phase.seconds = time.perf_counter() - started
    return phase


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(log_path: Path) -> tuple[subprocess.Popen, str]:
    """``policyqa serve`` on a free loopback port over the configured index, rate limit off."""
    port = _free_port()
    env = {"POLICYQA_RATE_LIMIT_PER_MINUTE": "0", **os.environ, "PYTHONPATH": str(REPO)}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}; see {log_path}")
        try:
            if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"the server did not start in {SERVER_START_TIMEOUT_S} s; see {log_path}")


def print_report(phases: list[dict], target: str) -> None:
    """The phases as a table, and the concurrent p95 against the single-client p50."""
    print(f"target: {target}")
    print(
        f"{'phase':<10}{'clients':>8}{'s':>7}{'req':>7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'busy':>6}{'429':>5}{'errors':>8}"
    )
    for p in phases:
        print(
            f"{p['phase']:<10}{p['clients']:>8}{p['seconds']:>7}{p['requests']:>7}{p['requests_per_s']:>8}"
            f"{p['p50_ms'] or '-':>9}{p['p95_ms'] or '-':>9}{p['p99_ms'] or '-':>9}{p['busy']:>6}"
            f"{p['rate_limited']:>5}{p['errors']:>8}"
        )
        if p["error_kinds"]:
            print(f"    errors: {p['error_kinds']}")
    if len(phases) == 2 and phases[0]["p50_ms"] and phases[1]["p95_ms"]:
        ratio = phases[1]["p95_ms"] / phases[0]["p50_ms"]
        print(f"concurrent p95 / single-client p50 = {ratio:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running server, e.g. http://127.0.0.1:7860 (loopback only)")
    where.add_argument("--serve", action="store_true", help="start policyqa serve on a free loopback port")
    parser.add_argument("--target", choices=["api", "gradio"], default="api")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--baseline-seconds", type=float, default=15, help="single-client phase first (0: none)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per request")
    parser.add_argument("--token", default=os.environ.get("POLICYQA_API_TOKEN", ""), help="bearer token for /api/*")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--clients must be 1–{MAX_CLIENTS} and --seconds at most {MAX_SECONDS}")
    process = None
    try:
        if args.serve:
            process, base = start_server(Path(os.environ.get("TMPDIR", "/tmp")) / "policyqa-loadtest-server.log")
        else:
            base = args.url.rstrip("/")
            if not is_loopback(urlsplit(base).hostname or ""):
                parser.error("load tests run against this machine only: use a 127.0.0.1 URL")
        headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        asyncio.run(run_phase(Phase("warm-up", 1), base, args.target, 3, args.timeout, headers))
        phases = []
        if args.baseline_seconds > 0:
            phases.append(
                asyncio.run(
                    run_phase(Phase("single", 1), base, args.target, args.baseline_seconds, args.timeout, headers)
                ).summary()
            )
        phases.append(
            asyncio.run(
                run_phase(Phase("concurrent", args.clients), base, args.target, args.seconds, args.timeout, headers)
            ).summary()
        )
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    print_report(phases, args.target)
    if args.json:
        args.json.write_text(json.dumps({"target": args.target, "phases": phases}, ensure_ascii=False, indent=2))
    return 1 if any(p["errors"] for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
