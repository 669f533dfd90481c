"""The ``policyqa`` command: validate arguments, call the core, print. No logic of its own."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path

from index.errors import PolicyQAError, QuestionError
from index.settings import Settings, describe_settings, load_settings
from ui.version import app_version

# The entry-point group whose objects add a subcommand: called with the subcommand factory.
COMMANDS_GROUP = "policyqa.commands"


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        config_file=getattr(args, "config", None),
        corpus_dir=getattr(args, "corpus", None),
        index_dir=getattr(args, "index", None),
        top_k=getattr(args, "top_k", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


def cmd_index(args: argparse.Namespace) -> int:
    from index.build import build_index
    from index.library import Library

    settings = _settings(args)
    if not settings.corpus_dir.is_dir():
        raise PolicyQAError(f"corpus folder {settings.corpus_dir} does not exist")
    # A watched folder (POLICYQA_WATCH) leaves out what the watching server leaves out.
    refused = Library(settings).refused_files() if settings.watch else None
    report = build_index(settings, force=args.force, refused=refused)
    for skipped in report.skipped:
        print(f"skipped: {skipped.reason}", file=sys.stderr)
    if report.up_to_date:
        print(f"index is up to date: {report.documents} documents, {report.chunks} chunks ({report.seconds:.2f} s)")
        return 0
    print(
        f"indexed {report.documents} documents into {report.chunks} chunks and {report.sentences} sentences "
        f"in {report.seconds:.1f} s ({report.embedded} texts embedded, the rest from the cache); "
        f"added {len(report.added)}, changed {len(report.changed)}, removed {len(report.removed)}"
    )
    return 0


def _pipeline(args: argparse.Namespace):
    from qa.pipeline import QAPipeline

    return QAPipeline(_settings(args))


def _questions_from_stdin() -> list[tuple[object, str]]:
    """(id, question) per non-empty stdin line: plain text or {"id": ..., "question": ...}."""
    questions = []
    for raw in sys.stdin:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                row = json.loads(line)
                questions.append((row.get("id"), row.get("question", "")))
                continue
            except json.JSONDecodeError:
                pass
        questions.append((None, line))
    return questions


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.answer_json import answer_to_json

    pipeline = _pipeline(args)
    questions = [(None, args.question)] if args.question else _questions_from_stdin()
    status = 0
    for question_id, question in questions:
        try:
            if args.json:
                print(
                    json.dumps(
                        answer_to_json(pipeline.ask(question, top_k=args.top_k), question_id), ensure_ascii=False
                    ),
                    flush=True,
                )
            else:
                _print_streamed(pipeline.ask_stream(question, top_k=args.top_k))
        except QuestionError as exc:
            status = 2
            if args.json:
                print(json.dumps({"id": question_id, "question": question, "error": str(exc)}, ensure_ascii=False))
            else:
                print(f"error: {exc}", file=sys.stderr)
    return status


def _print_streamed(items) -> None:
    """Print an answer's pieces as they come, then what the final answer adds (or corrects)."""
    shown = ""
    for item in items:
        if isinstance(item, str):
            print(item, end="", flush=True)
            shown += item
            continue
        if shown and shown != item.text:
            # A generated answer was repaired, or replaced by the extractive one: show what counts.
            print("\n\n——（核对后的回答）——")
            shown = ""
        elif shown:
            print()  # end the streamed text's line
        print(_for_a_person(item, text_shown=bool(shown)))


def _for_a_person(answer, text_shown: bool = False) -> str:
    lines = [f"（按上下文理解为：{answer.rewritten_question}）"] if answer.rewritten_question else []
    lines.extend(f"注意：{note}" for note in answer.notes)  # before the text: "以下为摘录式回答" must lead
    lines.extend(([] if text_shown else [answer.text]) + [""])
    from ui.render import page_words, speed_text

    if speed_text(answer.timings_ms):
        lines.append(speed_text(answer.timings_ms))
    if answer.figures:
        marks = [f"{f.text}{'' if f.verified else '（未核实：' + f.reason + '）'}" for f in answer.figures]
        checked = sum(f.verified for f in answer.figures)
        lines.append(
            f"数字核对：{checked}/{len(answer.figures)} 个与引用原文一致。"
            + ("" if checked == len(marks) else "；".join(m for m, f in zip(marks, answer.figures) if not f.verified))
        )
    for conflict in answer.conflicts:
        lines.append(f"说法不一致：{conflict.measure}")
        for v in conflict.values:
            lines.append(
                f"    {v['text']} — {v['title']}（{v.get('date') or '日期不详'}，{v['source']}）[{v['marker']}]"
            )
    if answer.citations:
        lines.append("来源：")
        for c in answer.citations:
            lines.append(
                f"[{c.marker}] {c.title}（{c.date or '日期不详'}，{c.doc_id}{page_words(c)}，字符 {c.start}–{c.end}）"
            )
            lines.append(f"    {c.text}")
    else:
        lines.append("相关段落：")
        for hit in answer.passages[:3]:
            lines.append(f"- {hit.title}（{hit.doc_id}）：{hit.text[:80]}…")
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.answer_json import answer_to_json
    from qa.evaluate import by_kind, calibration, read_questions, run_eval

    questions = read_questions(args.qa)  # before the model loads: a wrong path fails at once
    pipeline = _pipeline(args)
    pipeline.ask(questions[0].question)  # warm-up: latency is measured with the model loaded
    metrics, rows = run_eval(
        questions, lambda q, history: answer_to_json(pipeline.ask(q, history=history, top_k=args.top_k))
    )
    model = pipeline.extractive.model
    thresholds = {
        "figure": model.figure_threshold,
        "other": model.other_threshold,
        "decision": model.decision_threshold if model.decision is not None else None,
    }
    decisions = calibration(rows)
    kinds = by_kind(rows)
    if args.json:
        report = {"metrics": metrics, "thresholds": thresholds, "calibration": decisions, "by_kind": kinds}
        print(json.dumps({**report, "questions": rows}, ensure_ascii=False))
        return 0
    if args.per_question:
        for row in rows:
            print(f"{row['id']:>5} {row['type']:<12} rank={row['rank']} hit={row['hit']} {row['answer'][:100]!r}")
    names = ["recall@1", "recall@5", "mrr@10", "answer_hit", "cited_evidence", "unanswerable_declined"]
    print(f"questions: {metrics['questions']} ({metrics['answerable']} answerable)")
    for name in names:
        value = metrics[name]
        print(f"{name:<22} {'n/a (none in the set)' if value is None else f'{value:.3f}'}")
    print(f"{'latency p50 / p95':<22} {metrics['latency_p50_ms']:.1f} / {metrics['latency_p95_ms']:.1f} ms")
    d = decisions
    decided = (
        f"answered from P(right) {thresholds['decision']:.3f}"
        if thresholds["decision"] is not None
        else f"parts answered from {thresholds['figure']:.3f} (figures), {thresholds['other']:.3f} (other questions)"
    )
    print(
        f"calibration ({decided}): "
        f"answered correctly {d['answered_correctly']}/{d['answerable']}, answered wrongly {d['answered_wrongly']}, "
        f"declined {d['declined_answerable']} answerable; "
        f"declined correctly {d['declined_correctly']}/{d['unanswerable']}"
    )
    print("by kind (correct/total): " + ", ".join(f"{k} {c}/{n}" for k, (c, n) in kinds.items()))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.server import serve

    settings = _settings(args)
    if args.allow_remote:
        settings = settings.replace(allow_unauthenticated=True)
    if args.watch:
        settings = settings.replace(watch=True)
    serve(settings)
    return 0


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from ui.feedback import FeedbackStore

    store = FeedbackStore(_settings(args).index_dir)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            count = store.export_jsonl(out)
    else:
        count = store.export_jsonl(sys.stdout)
    print(f"exported {count} ratings from {store.path}", file=sys.stderr)
    return 0


def settings_epilog() -> str:
    """The settings table for --help."""
    rows = [f"  {env:<30} default: {default}" for env, default, _ in describe_settings()]
    return "settings (environment variables; also keys of policyqa.toml):\n" + "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="policyqa",
        description="Offline question answering with cited sources over Chinese policy documents.",
        epilog=settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, help="a policyqa.toml settings file")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    parser.add_argument("--version", action="version", version=f"policyqa {app_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    def subcommand(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=settings_epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = subcommand("index", "build or update the index of the corpus folder")
    p.add_argument("--corpus", type=Path, help="corpus folder (default: POLICYQA_CORPUS_DIR or corpus/)")
    p.add_argument("--index", type=Path, help="index folder (default: POLICYQA_INDEX_DIR or .index/)")
    p.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    p.set_defaults(run=cmd_index)

    p = subcommand("ask", "answer a question (or one per stdin line) with cited sources")
    p.add_argument("question", nargs="?", help="the question; omitted: read questions from stdin")
    p.add_argument("--json", action="store_true", help="print one JSON object per question")
    p.add_argument("--top-k", type=int, help="passages to retrieve (default 10)")
    p.add_argument("--index", type=Path, help="index folder")
    p.set_defaults(run=cmd_ask)

    p = subcommand("eval", "score the system on a question set")
    p.add_argument("--qa", type=Path, required=True, help="question set (JSON lines, see bench/questions/FORMAT.md)")
    p.add_argument("--json", action="store_true", help="print metrics and per-question rows as JSON")
    p.add_argument("--top-k", type=int, help="passages to retrieve (default 10)")
    p.add_argument("--index", type=Path, help="index folder")
    p.add_argument("--per-question", action="store_true", help="print a line per question")
    p.set_defaults(run=cmd_eval)

    p = subcommand("serve", "start the web app and REST API")
    p.add_argument("--index", type=Path, help="index folder")
    p.add_argument("--corpus", type=Path, help="corpus folder")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="serve a non-loopback --host without login (POLICYQA_ALLOW_UNAUTHENTICATED=1); "
        "otherwise set POLICYQA_AUTH to a users file",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="index files added to, changed in or removed from the corpus folder while serving "
        "(POLICYQA_WATCH=1; checked like uploads)",
    )
    p.set_defaults(run=cmd_serve)

    p = subcommand("feedback", "the 👍/👎 ratings people gave answers in the web app")
    actions = p.add_subparsers(dest="action", required=True)
    p = actions.add_parser("export", help="write every rating as JSON lines (oldest first)")
    p.add_argument("--out", type=Path, help="file to write (default: standard output)")
    p.add_argument("--index", type=Path, help="index folder whose feedback.sqlite to read")
    p.set_defaults(run=cmd_feedback_export)

    # Subcommands that installed packages plug in (pyproject.toml's entry points): `bench`
    # comes from the benchmark this way, so the product's command line never imports it.
    for entry in entry_points(group=COMMANDS_GROUP):
        entry.load()(subcommand)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``policyqa`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.run(args)
    except PolicyQAError as exc:
        print(f"policyqa: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("policyqa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
