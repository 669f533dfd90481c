"""OCR of scanned pages, measured: accuracy, the confidence threshold, speed, memory, dev-set answers.

Usage:
    .venv/bin/python -m bench.ocr accuracy          # CER and figures per page, seconds per page, the
                                                    # confidence table that sets index.ocr.MIN_CONFIDENCE
    .venv/bin/python -m bench.ocr scale --pages 50  # a 50-page scan indexed: seconds and memory per page
    .venv/bin/python -m bench.ocr devset            # a scan of a seed document's first pages answers the
                                                    # dev-set questions about them as its text does

Pages come from ``bench.scans`` (drawn on the spot, nothing downloaded). Speed is reported in
seconds per page (wall clock and CPU) and as a ratio to a baseline measured in the same run:
embedding the same page's text with the product's model, which is what a page with a text
layer costs to index. Every command prints JSON lines and a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.scans import (
    DEGRADATIONS,
    ScannedPage,
    character_error_rate,
    comparable,
    degraded,
    figures,
    image_pdf,
    report_pages,
    rotated,
    two_column_page,
    typeset,
)
from index.chunk import make_splitter
from index.load import load_document
from index.ocr import MIN_CONFIDENCE, Recognized, Recognizer
from index.settings import Settings, load_settings
from qa.evaluate import EvalQuestion, answer_hit, read_questions

REPO = Path(__file__).resolve().parent.parent
SEED = "002_88d20b9e249d40e3.txt"  # the seed document with the most dev-set figures on few pages
SEED_PAGES = 4  # of its 5 pages; the dev set asks about 6 facts on them
THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


# --- accuracy and the confidence threshold ---------------------------------------------------------


def accuracy_pages() -> list[tuple[str, ScannedPage]]:
    """The pages scored: the report (clean), two columns, turned 90° both ways, and each report
    page degraded every way of ``bench.scans.DEGRADATIONS``."""
    report = report_pages()
    pages = [(f"report-{n}", page) for n, page in enumerate(report, start=1)]
    pages += [("two-column", two_column_page()), ("rotated-90", rotated(report[1], 90))]
    pages += [("rotated-270", rotated(report[2], 270))]
    pages += [
        (f"{kind}-{n}", degraded(page, kind, seed=n)) for kind in DEGRADATIONS for n, page in enumerate(report, 1)
    ]
    return pages


@dataclass(frozen=True)
class PageScore:
    name: str
    seconds: float
    cpu_seconds: float
    cer: float
    figures_exact: bool
    boxes: int
    wrong_boxes: int


def box_is_right(text: str, expected: str) -> bool:
    """A box reads right when its text (compared as ``comparable``) occurs in what was drawn."""
    found = comparable(text)
    return bool(found) and found in comparable(expected)


def score_page(name: str, page: ScannedPage, recognized: Recognized, seconds: float, cpu: float) -> PageScore:
    text = recognized.page_text().text
    wrong = sum(1 for b in recognized.boxes if not box_is_right(b.text, page.text))
    return PageScore(
        name,
        round(seconds, 2),
        round(cpu, 2),
        round(character_error_rate(page.text, text), 4),
        figures(text) == figures(page.text),
        len(recognized.boxes),
        wrong,
    )


def threshold_table(results: Sequence[tuple[ScannedPage, Recognized]]) -> list[dict]:
    """Per confidence threshold: wrong boxes kept, right boxes (and characters) dropped."""
    rows = []
    for threshold in THRESHOLDS:
        wrong_kept = right_dropped = right_chars_dropped = 0
        for page, recognized in results:
            for box in recognized.boxes:
                right = box_is_right(box.text, page.text)
                if box.score >= threshold and not right:
                    wrong_kept += 1
                if box.score < threshold and right:
                    right_dropped += 1
                    right_chars_dropped += len(comparable(box.text))
        rows.append(
            {
                "threshold": threshold,
                "wrong_boxes_kept": wrong_kept,
                "right_boxes_dropped": right_dropped,
                "right_chars_dropped": right_chars_dropped,
            }
        )
    return rows


def embedding_baseline(settings: Settings, texts: Sequence[str]) -> float:
    """Seconds to embed the chunks and sentences of these page texts, as indexing a text page does."""
    from index.chunk import split_sentences
    from index.embed import SentenceTransformerEmbedder
    from index.types import Document

    embedder = SentenceTransformerEmbedder(settings)
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    pieces = []
    for n, text in enumerate(texts):
        doc = Document(f"p{n}", "t", None, None, text, "h")
        pieces += splitter.split_text(text) + [s.text for s in split_sentences(doc)]
    embedder.embed_documents(pieces[:8])  # warm-up
    started = time.perf_counter()
    embedder.embed_documents(pieces)
    return time.perf_counter() - started


def run_accuracy(settings: Settings, out=sys.stdout) -> dict:
    """Recognize every accuracy page with a fresh recognizer (no cache); print and return the summary."""
    recognizer = Recognizer(settings.threads)
    warm = report_pages()[0].image.resize((300, 424))
    recognizer.recognize(warm)  # model load and first-call set-up are not a page's cost
    scores, results = [], []
    for name, page in accuracy_pages():
        started, cpu = time.perf_counter(), time.process_time()
        recognized = recognizer.recognize(page.image)
        score = score_page(name, page, recognized, time.perf_counter() - started, time.process_time() - cpu)
        scores.append(score)
        results.append((page, recognized))
        print(json.dumps(score.__dict__, ensure_ascii=False), file=out, flush=True)
    clean = [s for s in scores if not any(s.name.startswith(k) for k in DEGRADATIONS)]
    baseline = embedding_baseline(settings, [p.text for p in report_pages()]) / 3
    ocr_seconds = sum(s.seconds for s in clean) / len(clean)
    summary = {
        "clean_pages": len(clean),
        "clean_max_cer": max(s.cer for s in clean),
        "clean_mean_cer": round(sum(s.cer for s in clean) / len(clean), 4),
        "clean_figures_exact": all(s.figures_exact for s in clean),
        "degraded": {
            kind: {
                "mean_cer": round(sum(s.cer for s in scores if s.name.startswith(kind)) / 3, 4),
                "figures_exact_pages": sum(1 for s in scores if s.name.startswith(kind) and s.figures_exact),
            }
            for kind in DEGRADATIONS
        },
        "seconds_per_clean_page": round(ocr_seconds, 2),
        "cpu_seconds_per_clean_page": round(sum(s.cpu_seconds for s in clean) / len(clean), 2),
        "embedding_seconds_per_page_text": round(baseline, 3),
        "ocr_over_embedding": round(ocr_seconds / baseline, 1),
        "min_confidence": MIN_CONFIDENCE,
        "lowest_score_of_a_right_box": min(
            (b.score for page, r in results for b in r.boxes if box_is_right(b.text, page.text)), default=None
        ),
        "scores_of_wrong_boxes": sorted(
            b.score for page, r in results for b in r.boxes if not box_is_right(b.text, page.text)
        ),
        "thresholds": threshold_table(results),
    }
    print(json.dumps(summary, ensure_ascii=False, indent=1), file=out)
    return summary


# --- a long scan: seconds and memory per page -----------------------------------------------------


def rss_kb() -> int:
    """The process's resident memory now, in KB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def long_scan(pages: int) -> tuple[bytes, list[ScannedPage]]:
    """An image-only PDF of ``pages`` pages set from the longest seed document."""
    seed = load_document(REPO / "corpus" / "004_5a3edcfde8a29aaf.txt", "004")
    paragraphs = seed.text.splitlines()
    scanned = typeset(paragraphs[1:], paragraphs[0], pages=pages)
    return image_pdf(scanned), scanned


def run_scale(settings: Settings, pages: int, out=sys.stdout) -> dict:
    """Index a ``pages``-page scan with a fresh OCR cache: seconds per page, memory after each page."""
    from index.build import build_index

    data, scanned = long_scan(pages)
    del scanned
    with tempfile.TemporaryDirectory(prefix="policyqa-ocr-scale-") as tmp:
        root = Path(tmp)
        (root / "corpus").mkdir()
        (root / "corpus" / "scan.pdf").write_bytes(data)
        cache = root / "cache"
        cache.mkdir()
        # The converted model and the embedding cache are reused; the OCR cache starts empty.
        (cache / "models").symlink_to((settings.cache_dir / "models").resolve())
        if (settings.cache_dir / "embeddings.sqlite").is_file():
            shutil.copy(settings.cache_dir / "embeddings.sqlite", cache / "embeddings.sqlite")
        local = settings.replace(corpus_dir=root / "corpus", index_dir=root / "index", cache_dir=cache)
        samples: list[tuple[int, float, int, float]] = []  # (pages done, seconds, RSS KB, CPU seconds)
        started, cpu = time.perf_counter(), time.process_time()

        def progress(stage: str, done: int, total: int) -> None:
            if stage == "ocr":
                samples.append((done, time.perf_counter() - started, rss_kb(), time.process_time() - cpu))
                print(
                    f"OCR {done}/{total} pages, {samples[-1][1]:.0f} s (CPU {samples[-1][3]:.0f} s), "
                    f"RSS {samples[-1][2] / 1024:.0f} MB",
                    file=out,
                    flush=True,
                )

        report = build_index(local, progress=progress)
        total = time.perf_counter() - started
    ocr_done = [s for s in samples if s[0] > 0]
    per_page = (ocr_done[-1][1] - samples[0][1]) / max(1, ocr_done[-1][0]) if ocr_done else 0.0
    cpu_per_page = (ocr_done[-1][3] - samples[0][3]) / max(1, ocr_done[-1][0]) if ocr_done else 0.0
    steady = [s for s in ocr_done if s[0] >= 5]
    slope = _slope([s[0] for s in steady], [s[2] for s in steady]) if len(steady) > 2 else 0.0
    summary = {
        "pages": pages,
        "chunks": report.chunks,
        "seconds_total": round(total, 1),
        "ocr_seconds_per_page": round(per_page, 2),
        "ocr_cpu_seconds_per_page": round(cpu_per_page, 2),
        "rss_mb_after_first_page": round(ocr_done[0][2] / 1024, 1) if ocr_done else None,
        "rss_mb_after_last_page": round(ocr_done[-1][2] / 1024, 1) if ocr_done else None,
        "rss_growth_kb_per_page_from_page_5": round(slope, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(summary, ensure_ascii=False, indent=1), file=out)
    return summary


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var if var else 0.0


# --- the dev set on a scanned seed document ---------------------------------------------------------


def scanned_seed(pages: int = SEED_PAGES) -> tuple[bytes, list[ScannedPage]]:
    """The first ``pages`` pages of the seed document ``SEED``, set and scanned (an image-only PDF)."""
    seed = load_document(REPO / "corpus" / SEED, SEED)
    paragraphs = seed.text.splitlines()
    scanned = typeset(paragraphs[1:], paragraphs[0], pages=pages)
    return image_pdf(scanned), scanned


def seed_questions(scanned: Sequence[ScannedPage], path: Path) -> list[tuple[EvalQuestion, int]]:
    """The answerable questions of a set about ``SEED`` whose evidence was drawn on these pages,
    each with the page (from 1) holding its evidence."""
    found = []
    for question in read_questions(path):
        if SEED not in question.sources or not question.answerable:
            continue
        for number, page in enumerate(scanned, start=1):
            if any(comparable(e) in comparable(page.text) for e in question.evidence):
                found.append((question, number))
                break
    return found


@dataclass(frozen=True)
class SeedComparison:
    question: str
    page: int  # where its evidence is on the scan
    text_hit: bool  # answer-hit on the text version
    scan_hit: bool  # answer-hit on the scan
    scan_pages: tuple[int | None, ...]  # pages the scan's answer cites (its own citations of the scan)
    scan_ocr: bool  # every citation of the scan says OCR


def compare_on_seed(
    ask_text: Callable[[str], dict], ask_scan: Callable[[str], dict], questions, scan_id: str
) -> list[SeedComparison]:
    """Each question asked of the text corpus and of the corpus holding the scan instead."""
    rows = []
    for question, page in questions:
        text_reply, scan_reply = ask_text(question.question), ask_scan(question.question)
        cited = [c for c in scan_reply["citations"] if c["source"] == scan_id]
        rows.append(
            SeedComparison(
                question.id,
                page,
                answer_hit(text_reply, question),
                answer_hit(scan_reply, question),
                tuple(c["page"] for c in cited),
                all(c["ocr"] for c in cited),
            )
        )
    return rows


def run_devset(settings: Settings, qa_path: Path, out=sys.stdout) -> list[SeedComparison]:
    """Build the text corpus and the corpus with the seed scanned; compare their answers."""
    from index.build import build_index
    from index.embed import SentenceTransformerEmbedder
    from qa.answer_json import answer_to_json
    from qa.pipeline import QAPipeline

    data, scanned = scanned_seed()
    questions = seed_questions(scanned, qa_path)
    embedder = SentenceTransformerEmbedder(settings)
    with tempfile.TemporaryDirectory(prefix="policyqa-ocr-devset-") as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "corpus", root / "text")
        shutil.copytree(REPO / "corpus", root / "scan")
        (root / "scan" / SEED).unlink()
        scan_id = Path(SEED).stem + "-scan.pdf"
        (root / "scan" / scan_id).write_bytes(data)
        pipelines = {}
        for name in ("text", "scan"):
            local = settings.replace(corpus_dir=root / name, index_dir=root / f"{name}-index")
            build_index(local, embedder=embedder, progress=lambda *_: None)
            pipelines[name] = QAPipeline(local, embedder=embedder)
        rows = compare_on_seed(
            lambda q: answer_to_json(pipelines["text"].ask(q)),
            lambda q: answer_to_json(pipelines["scan"].ask(q)),
            questions,
            scan_id,
        )
        read = pipelines["scan"].data.document(scan_id).text
        cer = character_error_rate("\n".join(p.text for p in scanned), read)
    for row in rows:
        print(json.dumps(row.__dict__, ensure_ascii=False), file=out)
    same = sum(1 for r in rows if r.text_hit == r.scan_hit)
    right_page = sum(1 for r in rows if r.scan_hit and r.page in r.scan_pages)
    print(
        f"{len(rows)} dev-set questions about the first {SEED_PAGES} pages of {SEED}: "
        f"answer-hit text {sum(r.text_hit for r in rows)}, scan {sum(r.scan_hit for r in rows)}, "
        f"same outcome {same}; scan answers citing the evidence's page {right_page}; "
        f"character error rate of the scan's text {cer:.4f}",
        file=out,
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("accuracy", help="CER, figures, speed and the confidence table")
    scale = sub.add_parser("scale", help="index a long scan: seconds and memory per page")
    scale.add_argument("--pages", type=int, default=50)
    devset = sub.add_parser("devset", help="dev-set answers on a scanned seed document vs its text")
    devset.add_argument("--qa", type=Path, default=REPO / "bench" / "questions" / "dev.jsonl")
    args = parser.parse_args(argv)
    settings = load_settings()
    os.environ.setdefault("TQDM_DISABLE", "1")
    if args.command == "accuracy":
        run_accuracy(settings)
    elif args.command == "scale":
        run_scale(settings, args.pages)
    else:
        run_devset(settings, args.qa)
    return 0


if __name__ == "__main__":
    sys.exit(main())
