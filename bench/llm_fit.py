"""How the LLM prompt fits the model's context on a question set, without generating anything.

Usage:
    POLICYQA_LLM_BASE_URL=http://127.0.0.1:8080/v1 .venv/bin/python -m bench.llm_fit --qa bench/questions/dev.jsonl

For each question, the prompt's tokens with the five best passages whole (the prompt before
issue 18) and as fitted now, counted by the server's tokenizer (llama.cpp's ``/tokenize``;
other servers: the estimate of ``qa.llm_context``), and how many passages went in and how many
of them cut. The summary says how many prompts leave the reply its budget within the context.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from index.settings import load_settings
from qa import llm
from qa.evaluate import read_questions
from qa.llm_context import estimate_tokens
from qa.pipeline import QAPipeline
from qa.query import analyze


def prompt_tokens(client: llm.ChatClient, messages: list[dict[str, str]], exact: bool) -> int:
    """Tokens of the messages' text (without the chat template's few role tokens)."""
    text = "".join(m["content"] for m in messages)
    counted = client.count_tokens([text]) if exact else None
    return counted[0] if counted else estimate_tokens(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, required=True, help="a question set (JSON lines)")
    parser.add_argument("--json", action="store_true", help="one JSON object per question, then the summary")
    args = parser.parse_args(argv)
    settings = load_settings()
    if not settings.llm_base_url:
        parser.error("set POLICYQA_LLM_BASE_URL (or llm_base_url in policyqa.toml)")
    pipeline = QAPipeline(settings)
    client = llm.ChatClient(settings)
    answerer = llm.GeneratedAnswerer(client, settings.refusal_text)
    context = client.context()
    rows = []
    for item in read_questions(args.qa):
        info, _ = analyze(item.question, list(item.history) or None)
        _, evidence, part_vectors = pipeline.gather(info, settings.top_k)
        whole = [llm.whole(hit) for hit in evidence.hits[: llm.PASSAGES_FOR_LLM]]
        before = prompt_tokens(
            client, llm.build_messages(info.text, whole, settings.refusal_text), context.can_tokenize
        )
        prompt = answerer.prompt(info, evidence, part_vectors)
        now = prompt_tokens(client, prompt.messages, context.can_tokenize)
        rows.append(
            {
                "id": item.id,
                "before": before,
                "now": now,
                "given": len(prompt.given),
                "cut": sum(p.trimmed for p in prompt.given),
                "fits": now + prompt.answer_tokens <= context.tokens,
            }
        )
        if args.json:
            print(json.dumps(rows[-1], ensure_ascii=False))
    summary = {
        "context": context.tokens,
        "context_from": context.source,
        "counted_by": "server" if context.can_tokenize else "estimate",
        "answer_tokens": prompt.answer_tokens if rows else None,
        "questions": len(rows),
        "before_median": statistics.median(r["before"] for r in rows) if rows else None,
        "before_max": max((r["before"] for r in rows), default=None),
        "before_fit": sum(r["before"] + prompt.answer_tokens <= context.tokens for r in rows) if rows else 0,
        "now_median": statistics.median(r["now"] for r in rows) if rows else None,
        "now_max": max((r["now"] for r in rows), default=None),
        "now_fit": sum(r["fits"] for r in rows),
        "passages_given_median": statistics.median(r["given"] for r in rows) if rows else None,
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if summary["now_fit"] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
