"""`policyqa serve --watch`: files added to, changed in and removed from the corpus folder are
indexed without a restart, and files an upload would refuse are left out (real server, real files)."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

pytestmark = pytest.mark.e2e

FACT = "青稞湾村2025年建成高原温室大棚{n}座，带动312户脱贫户增收。"
QUESTION = "青稞湾村建成了多少座高原温室大棚？"
NAME = "青稞湾村通报.md"
WAIT_S = 180  # a change is indexed within seconds; the machine may be busy


def documents(server) -> int:
    return httpx.get(server.url + "/api/health", timeout=10).json()["documents"]


def passages(server) -> list[dict]:
    reply = httpx.post(server.url + "/api/ask", json={"question": QUESTION}, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["passages"]


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    pytest.fail(f"not within {WAIT_S} s: {what}")


def test_added_changed_and_removed_files_are_indexed_without_a_restart(watch_server):
    corpus, before = watch_server.corpus_dir, documents(watch_server)
    (corpus / NAME).write_text("# 青稞湾村通报\n\n" + FACT.format(n=86), encoding="utf-8")
    wait_until(lambda: documents(watch_server) == before + 1, "the added file is indexed")
    found = [p for p in passages(watch_server) if p["source"] == NAME]
    assert found and "86座" in found[0]["text"]

    (corpus / NAME).write_text("# 青稞湾村通报\n\n" + FACT.format(n=97), encoding="utf-8")
    wait_until(
        lambda: any(p["source"] == NAME and "97座" in p["text"] for p in passages(watch_server)),
        "the changed file is indexed",
    )
    assert not any("86座" in p["text"] for p in passages(watch_server))

    (corpus / NAME).unlink()
    wait_until(lambda: documents(watch_server) == before, "the removed file leaves the index")
    assert all(p["source"] != NAME for p in passages(watch_server))
    assert watch_server.process.poll() is None  # the same server throughout


def test_a_file_an_upload_would_refuse_is_left_out_and_the_log_says_why(watch_server):
    corpus, before = watch_server.corpus_dir, documents(watch_server)
    shutil.copy(corpus / "001_8f2e60f4829d27b2.txt", corpus / "副本.txt")
    try:
        wait_until(lambda: "副本.txt" in watch_server.log.read_text(encoding="utf-8"), "the refusal is logged")
        line = next(x for x in watch_server.log.read_text(encoding="utf-8").splitlines() if "副本.txt" in x)
        assert "与已有文档“001_8f2e60f4829d27b2.txt”内容完全相同" in line
        assert documents(watch_server) == before
    finally:
        (corpus / "副本.txt").unlink()
