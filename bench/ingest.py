"""Ingestion benchmark (issue 15): peak memory, cold / warm / resumed build time, embedding options.

    python -m bench.ingest folder --scale 4 --out /tmp/corpus-x4      # the corpus rewritten 4 times
    python -m bench.ingest cold --corpus corpus --corpus /tmp/corpus-x4 [--baseline DIR] [--runs 2]
    python -m bench.ingest resume --corpus corpus [--kill-at 0.5]
    python -m bench.ingest options [--rounds 3] [--quality [NAME ...]]
    python -m bench.ingest convert [--baseline DIR] [--runs 2]       # model conversion and export

Every build runs as ``policyqa index`` in a child process, with an empty embedding cache
and a fresh index folder, the converted model taken from ``Settings.model_cache_dir``;
its peak resident memory is the child's ``ru_maxrss`` (what ``/usr/bin/time -f %M`` prints).
``--baseline DIR`` names another checkout (e.g. ``git worktree add /tmp/base <commit>``) whose
builds run in turn with ours, in the same venv, so both are timed on the same busy machine.

``options`` times the ways of embedding the corpus' texts against each other, interleaved
round by round on the same texts (fp32 as before this change, sorted by characters in
batches of 16; sorted by tokens with a token budget; one or two threads; several batches at
once; int8 matrix products), and with ``--quality`` builds an index from each option's
vectors and scores it on every question set with ``policyqa eval`` (the same answerer and
query vectors for all). Timing holds every option's ONNX session; the quality half makes
one option's session at a time and frees it before the next (six at once, ≈ 3.8 GB, were
killed for memory on the shared machine). ``--rounds 0`` skips the timing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
QUESTION_SETS = ("dev", "extra", "holdout", "bank-dev")
METRICS = ("recall@5", "mrr@10", "answer_hit")
# Texts timed per round by ``options``: the corpus' mix (≈ 1 chunk to 7 sentences).
SAMPLE_CHUNKS, SAMPLE_SENTENCES = 100, 700


# ----------------------------------------------------------------------------- folder


def write_folder(corpus: Path, out: Path, scale: int) -> list[Path]:
    """``scale`` copies of every corpus file, each with every number replaced by a fresh one.

    Numbers are replaced in the raw file (as ``bench.synthetic`` does in sentences), so each
    copy is a new document to the index with the same words and layout.
    """
    from bench.synthetic import DistinctNumbers
    from index.load import corpus_files

    numbers = DistinctNumbers()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for doc_id, path in corpus_files(corpus):
        text = path.read_text(encoding="utf-8")
        stem, suffix = os.path.splitext(doc_id)
        for copy in range(scale):
            target = out / f"{stem}-{copy + 1}{suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(numbers.replace(text), encoding="utf-8")
            written.append(target)
    return written


# ----------------------------------------------------------------------------- builds


@dataclass(frozen=True)
class Measured:
    """A finished child process: wall time, CPU time (user + system), peak memory, what it printed."""

    seconds: float
    cpu_seconds: float
    peak_kb: int
    stdout: str


def run_measured(command: Sequence[str], cwd: Path, env: dict[str, str]) -> Measured:
    """Run a command to its end and measure it (``wait4``: what ``/usr/bin/time`` reports).

    On a machine shared with other work, CPU time varies less than wall time: other
    processes slow a build down but do not add to its CPU time (much; spinning threads do).
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if process.returncode != 0:
        # Its error output (progress bars, warnings) is not kept.
        raise RuntimeError(
            f"{' '.join(command)} exited with {process.returncode} (run it by hand to see why): {text[-2000:]}"
        )
    return Measured(seconds, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss), text)


def _build_env(cache: Path, checkout: Path, models: Path | None) -> dict[str, str]:
    env = {**os.environ, "POLICYQA_CACHE_DIR": str(cache), "PYTHONPATH": str(checkout)}
    env.pop("POLICYQA_INDEX_DIR", None)
    if models is not None:
        # A checkout from before the shared model cache looks for converted models in <cache>/models.
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "models").symlink_to(models.resolve())  # a relative link would point inside the cache
    return env


def cold_build(corpus: Path, work: Path, checkout: Path = REPO, models: Path | None = None) -> dict:
    """One cold build (empty embedding cache, new index folder) and a warm re-run of it."""
    cache, index = work / "cache", work / "index"
    shutil.rmtree(work, ignore_errors=True)
    env = _build_env(cache, checkout, models)
    command = [sys.executable, "-m", "ui.cli", "index", "--corpus", str(corpus.resolve()), "--index", str(index)]
    cold = run_measured(command, checkout, env)
    warm = run_measured(command, checkout, env)
    embedded = re.search(r"\((\d+) texts embedded", cold.stdout)
    return {
        "cold_s": round(cold.seconds, 2),
        "cold_cpu_s": round(cold.cpu_seconds, 2),
        "cold_peak_mb": round(cold.peak_kb / 1024),
        "warm_s": round(warm.seconds, 2),
        "warm_peak_mb": round(warm.peak_kb / 1024),
        "texts_embedded": int(embedded.group(1)) if embedded else None,
    }


def compare_cold(corpora: Sequence[Path], runs: int, baseline: Path | None, models: Path | None, say) -> dict:
    """Cold and warm builds of each corpus, ours and the baseline's in turn, ``runs`` times."""
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="policyqa-ingest-") as tmp:
        for run in range(runs):
            for corpus in corpora:
                for name, checkout in (("ours", REPO), ("baseline", baseline)):
                    if checkout is None:
                        continue
                    say(f"run {run + 1}/{runs}: {name} on {corpus}")
                    result = cold_build(corpus, Path(tmp) / name, checkout, models if name == "baseline" else None)
                    rows.setdefault(f"{name} {corpus}", []).append(result)
                    say(f"    {result}")
    return rows


# ----------------------------------------------------------------------------- conversion

# Loading the embedder converts the model (index.e5_model) and exports it (index.onnx_model).
CONVERT = "from index.embed import SentenceTransformerEmbedder\nfrom index.settings import load_settings\n" + (
    "SentenceTransformerEmbedder(load_settings())"
)


def compare_convert(runs: int, baseline: Path | None, say) -> dict:
    """Time and peak memory of converting and exporting the model into an empty model cache."""
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="policyqa-convert-") as tmp:
        for run in range(runs):
            for name, checkout in (("ours", REPO), ("baseline", baseline)):
                if checkout is None:
                    continue
                models = Path(tmp) / name
                shutil.rmtree(models, ignore_errors=True)
                # Ours reads model_cache_dir; a checkout from before it keeps models in <cache_dir>/models.
                env = {
                    **os.environ,
                    "POLICYQA_MODEL_CACHE_DIR": str(models / "models"),
                    "POLICYQA_CACHE_DIR": str(models),
                    "PYTHONPATH": str(checkout),
                }
                say(f"run {run + 1}/{runs}: {name} converts the model")
                done = run_measured([sys.executable, "-c", CONVERT], checkout, env)
                rows.setdefault(name, []).append(
                    {
                        "seconds": round(done.seconds, 2),
                        "cpu_s": round(done.cpu_seconds, 2),
                        "peak_mb": round(done.peak_kb / 1024),
                    }
                )
                say(f"    {rows[name][-1]}")
    return rows


# ----------------------------------------------------------------------------- resume


def resume(corpus: Path, kill_at: float, say) -> dict:
    """A cold build, then a build killed (SIGKILL) at ``kill_at`` of its embedding and resumed."""
    with tempfile.TemporaryDirectory(prefix="policyqa-resume-") as tmp:
        say("cold build")
        cold = cold_build(corpus, Path(tmp) / "cold")
        work = Path(tmp) / "killed"
        env = _build_env(work / "cache", REPO, None)
        say(f"build killed at {kill_at:.0%} of its embedding")
        done, total = kill_build(corpus, work / "index", env, kill_at)
        say(f"killed at {done}/{total} texts; resuming")
        command = [sys.executable, "-m", "ui.cli", "index", "--corpus", str(corpus.resolve()), "--index"]
        resumed = run_measured([*command, str(work / "index")], REPO, env)
    embedded = re.search(r"\((\d+) texts embedded", resumed.stdout)
    return {
        "cold": cold,
        "killed_at": {"done": done, "total": total},
        "resumed_s": round(resumed.seconds, 2),
        "resumed_cpu_s": round(resumed.cpu_seconds, 2),
        "resumed_peak_mb": round(resumed.peak_kb / 1024),
        "resumed_texts_embedded": int(embedded.group(1)) if embedded else None,
        "resumed / cold": round(resumed.seconds / cold["cold_s"], 3),
        "resumed / cold, CPU time": round(resumed.cpu_seconds / cold["cold_cpu_s"], 3),
    }


# The child build: the product's build_index, printing its embedding progress for the parent.
CHILD = """
import sys
from pathlib import Path
from index.build import build_index
from index.settings import load_settings

def report(stage, done, total):
    if stage == "embed":
        print(done, total, flush=True)

build_index(load_settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2])), progress=report)
"""


def kill_build(corpus: Path, index: Path, env: dict[str, str], kill_at: float) -> tuple[int, int]:
    """Start a build and SIGKILL it once ``kill_at`` of its texts are embedded; returns (done, total)."""
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(corpus.resolve()), str(index)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    done = total = 0
    for line in process.stdout:
        done, total = (int(x) for x in line.split())
        if total and done >= kill_at * total:
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    if process.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the build ended ({process.returncode}) before {kill_at:.0%} of its embedding")
    return done, total


# ----------------------------------------------------------------------------- options


def sample_texts(settings) -> list[str]:
    """Prefixed texts of the corpus in its chunk/sentence mix, evenly spread over it."""
    from index.build import candidate_files, stage_documents
    from index.store import DocumentTable
    from index.vectorize import span_texts

    with tempfile.TemporaryDirectory() as tmp:
        files, _ = candidate_files(settings, {})
        staged = stage_documents(files, Path(tmp), settings)
        documents = DocumentTable(Path(tmp) / "documents.jsonl")
        chunks = span_texts(_spread(staged.chunk_rows, SAMPLE_CHUNKS), documents)
        sentences = span_texts(_spread(staged.sentence_rows, SAMPLE_SENTENCES), documents)
    return [settings.passage_prefix + t for t in chunks + sentences]


def _spread(rows: np.ndarray, count: int) -> np.ndarray:
    return rows[np.linspace(0, len(rows) - 1, min(count, len(rows))).astype(int)]


class OptionEncoder:
    """An ONNX model file run one way: batching, threads, workers.

    Args:
        directory: the conversion (tokenizer, and the fp32 model the encoder is made with).
        model: the model file to run instead (its folder holds the word table it refers to).
    """

    def __init__(self, directory: Path, model: Path, threads: int, by_tokens: bool, workers: int = 1) -> None:
        import onnxruntime as ort

        from index.onnx_model import OnnxEncoder

        self.encoder = OnnxEncoder(directory, threads)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_mem_pattern = False
        options.log_severity_level = 3
        self.encoder.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.by_tokens = by_tokens
        self.workers = workers

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of prefixed texts, in order."""
        from index.embed import MAX_BATCH_TOKENS, length_batches

        ids = self.encoder.tokenize(texts)
        if self.by_tokens:
            batches = length_batches([len(x) for x in ids], 16, MAX_BATCH_TOKENS)
        else:  # as before issue 15: by characters, 16 a batch
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            batches = [order[b : b + 16] for b in range(0, len(order), 16)]
        out = np.empty((len(texts), 384), dtype=np.float32)
        pending = iter(batches)
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    batch = next(pending, None)
                if batch is None:
                    return
                out[batch] = self.encoder.encode_ids([ids[i] for i in batch])

        threads = [threading.Thread(target=work) for _ in range(self.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return out


def option_encoders(directory: Path, work: Path, threads: int) -> dict[str, Callable[[], OptionEncoder]]:
    """The options compared, by name (each made when it is first timed)."""
    from index.onnx_model import MODEL_FILE, write_int8

    def int8(op_types: tuple[str, ...], name: str, workers: int = 1) -> Callable[[], OptionEncoder]:
        def make() -> OptionEncoder:
            if not (work / name).is_file():
                write_int8(directory, work / name, op_types)
            if workers > 1:
                return OptionEncoder(directory, work / name, 1, by_tokens=True, workers=workers)
            return OptionEncoder(directory, work / name, threads, by_tokens=True)

        return make

    fp32 = directory / MODEL_FILE
    return {
        "fp32, by characters, 16 a batch (before)": lambda: OptionEncoder(directory, fp32, threads, False),
        "fp32, by tokens, ≤ 4096 tokens a batch": lambda: OptionEncoder(directory, fp32, threads, True),
        "fp32, by tokens, 1 thread": lambda: OptionEncoder(directory, fp32, 1, True),
        "fp32, by tokens, 2 workers × 1 thread": lambda: OptionEncoder(directory, fp32, 1, True, workers=2),
        "int8 matrix products (MatMul)": int8(("MatMul",), "int8-matmul.onnx"),
        "int8 MatMul + attention projections": int8(("MatMul", "Attention"), "int8-attention.onnx"),
        "int8 MatMul + attention, 2 workers × 1 thread": int8(("MatMul", "Attention"), "int8-attention.onnx", 2),
    }


# Options whose vectors are another option's (same model file, same batches; only threads
# differ, float noise apart): their quality is not measured unless named.
SAME_VECTORS = ("fp32, by tokens, 1 thread", "int8 MatMul + attention, 2 workers × 1 thread")


def compare_options(settings, rounds: int, quality: Sequence[str] | None, say) -> dict:
    """Throughput of each option, interleaved round by round; with ``quality``, each model's eval.

    Args:
        settings: the model, its cache, threads.
        rounds: timing rounds (0: none).
        quality: None for no quality; [] for every option but ``SAME_VECTORS``; else the
            options to score, by name.
    """
    from index.embed import resolve_model_path
    from index.onnx_model import ensure_onnx_model

    directory = ensure_onnx_model(Path(resolve_model_path(settings)), settings.model_cache_dir)
    report: dict = {"rounds": rounds, "options": {}}
    with tempfile.TemporaryDirectory(prefix="policyqa-options-") as tmp:
        makers = option_encoders(directory, Path(tmp), settings.threads)
        if rounds:
            report.update(time_options(makers, sample_texts(settings), rounds, say))
        for name in makers if quality == [] else quality or ():
            if name not in makers:
                raise SystemExit(f"no option {name!r}; the options are: {', '.join(makers)}")
            if quality == [] and name in SAME_VECTORS:
                continue
            say(f"quality: {name}")
            started = time.perf_counter()
            scores = option_quality(settings, makers[name], Path(tmp) / "q")
            report["options"].setdefault(name, {})["quality"] = scores
            say(f"    {scores} ({time.perf_counter() - started:.0f} s)")
    return report


def time_options(makers: dict[str, Callable[[], OptionEncoder]], texts: list[str], rounds: int, say) -> dict:
    """Each option's best time on ``texts`` over ``rounds`` rounds, and its vectors' agreement
    with the first option's; every session is freed before this returns."""
    options: dict[str, dict] = {}
    encoders = {name: make() for name, make in makers.items()}
    reference = encoders[next(iter(encoders))].encode(texts)
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for round_number in range(rounds):
        for name, encoder in encoders.items():
            started = time.perf_counter()
            vectors = encoder.encode(texts)
            times[name].append(time.perf_counter() - started)
            if round_number == 0:
                cosines = (vectors * reference).sum(axis=1)
                options[name] = {"min_cosine_to_before": round(float(cosines.min()), 5)}
        say(f"round {round_number + 1}: " + ", ".join(f"{t[-1]:.1f} s" for t in times.values()))
    del encoders, reference
    gc.collect()
    base = min(times[next(iter(times))])
    for name, values in times.items():
        best = min(values)
        options[name].update(texts_per_s=round(len(texts) / best, 1), time_vs_before=round(best / base, 3))
    return {"texts": len(texts), "options": options}


def option_quality(settings, make: Callable[[], OptionEncoder], work: Path) -> dict:
    """Build the corpus' index with an option's passage vectors and score it on every question set.

    The option's session lives only while the index is built: the evaluations run in child
    processes (each with the product's own query encoder) after it is freed.
    """
    from index.build import build_index

    class Embedder:
        model_id = settings.embedding_model
        dim = 384

        def __init__(self, encoder: OptionEncoder) -> None:
            self.encoder = encoder

        def embed_batches(self, texts):
            yield list(range(len(texts))), self.encoder.encode([settings.passage_prefix + t for t in texts])

    shutil.rmtree(work, ignore_errors=True)
    built = settings.replace(index_dir=work / "index", cache_dir=work / "cache")
    embedder = Embedder(make())
    build_index(built, embedder=embedder, progress=lambda *_: None)
    del embedder
    gc.collect()
    env = {**os.environ, "POLICYQA_CACHE_DIR": str(work / "cache"), "PYTHONPATH": str(REPO)}
    scores = {}
    for name in QUESTION_SETS:
        command = [sys.executable, "-m", "ui.cli", "eval", "--qa", f"bench/questions/{name}.jsonl"]
        done = subprocess.run(
            [*command, "--index", str(work / "index"), "--json"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        metrics = json.loads(done.stdout)["metrics"]
        scores[name] = {metric: metrics[metric] for metric in METRICS}
    return scores


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m bench.ingest <folder|cold|resume|options|convert>``; prints JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("folder", help="write the corpus rewritten SCALE times with fresh numbers")
    p.add_argument("--corpus", type=Path, default=REPO / "corpus")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--out", type=Path, required=True)
    p = commands.add_parser("cold", help="cold and warm builds: time and peak memory")
    p.add_argument("--corpus", type=Path, action="append", required=True, help="repeat for several folders")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--baseline", type=Path, help="another checkout to build in turn with this one")
    p.add_argument("--baseline-models", type=Path, help="the baseline's converted models (its <cache>/models)")
    p = commands.add_parser("resume", help="a build killed at --kill-at of its embedding, then resumed")
    p.add_argument("--corpus", type=Path, default=REPO / "corpus")
    p.add_argument("--kill-at", type=float, default=0.5)
    p = commands.add_parser("options", help="throughput (and --quality) of the ways of embedding")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--quality",
        nargs="*",
        metavar="NAME",
        help="score each option's index on every question set (or only the options named)",
    )
    p = commands.add_parser("convert", help="model conversion and export into an empty model cache")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--baseline", type=Path, help="another checkout to convert in turn with this one")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.command == "folder":
        written = write_folder(args.corpus, args.out, args.scale)
        result: dict = {"files": len(written), "bytes": sum(p.stat().st_size for p in written)}
    elif args.command == "cold":
        result = compare_cold(args.corpus, args.runs, args.baseline, args.baseline_models, say)
    elif args.command == "resume":
        result = resume(args.corpus, args.kill_at, say)
    elif args.command == "convert":
        result = compare_convert(args.runs, args.baseline, say)
    else:
        from index.settings import load_settings

        result = compare_options(load_settings(), args.rounds, args.quality, say)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
