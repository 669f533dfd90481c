"""``policyqa bench``: the benchmark's subcommand, plugged into the ``policyqa`` command.

The product's command line (``ui.cli``) does not import the benchmark. It adds the
subcommands that installed packages declare under the ``policyqa.commands`` entry-point
group (``pyproject.toml``), and ``add_command`` here is the one declared there.

The LangChain baseline needs the ``bench`` extra (``langchain-community``), which the
product's install leaves out; without it the command says how to install it before it
loads or builds anything.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable
from pathlib import Path

from index.errors import PolicyQAError
from index.settings import load_settings

MISSING_EXTRA = (
    "基准测试需要 bench 附加依赖（LangChain 基线）：请在源码目录中运行 pip install '.[bench]'"
    "（开发环境运行 make setup 即可）。"
    " The benchmark needs the bench extra (the LangChain baseline): run pip install '.[bench]'"
    " in the source folder (make setup installs it for development)."
)


def add_command(subcommand: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Add ``bench`` to the ``policyqa`` command.

    Args:
        subcommand: makes a subcommand's parser from its name and help text (``ui.cli``'s, so
            every subcommand is formatted alike).
    """
    p = subcommand("bench", "benchmark against the LangChain baseline, then synthetic corpora up to 10^6 chunks")
    p.add_argument("--qa", type=Path, default=Path("bench/questions/dev.jsonl"), help="question set (JSON lines)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object (table on stderr)")
    p.add_argument("--quick", action="store_true", help="real corpus and 10^4 chunks only (≤ 10 minutes)")
    p.add_argument("--corpus", type=Path, help="corpus folder")
    p.add_argument("--sizes", help="synthetic sizes in chunks, comma-separated (default 10000 or 10000,100000,1000000)")
    p.add_argument("--work", type=Path, help="folder for the benchmark's indexes (default: a temporary folder)")
    p.add_argument("--reuse", action="store_true", help="reuse synthetic indexes already built in --work")
    p.add_argument(
        "--store",
        choices=["faiss", "milvus"],
        help="milvus: measure the Milvus store beside the local one (POLICYQA_MILVUS_URI, or a milvus-lite "
        "server started for the run), on the corpus and up to 10^5 synthetic chunks",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Check what the benchmark needs, then run it (``bench.run.main``)."""
    if importlib.util.find_spec("langchain_community") is None:
        raise PolicyQAError(MISSING_EXTRA)
    if not args.qa.is_file():
        raise PolicyQAError(f"question set {args.qa} does not exist; give one with --qa")
    try:
        sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else None
    except ValueError:
        raise PolicyQAError(
            f"--sizes 应为以逗号分隔的整数，例如 10000,100000；收到 {args.sizes!r}."
            f" --sizes takes whole numbers separated by commas, e.g. 10000,100000; got {args.sizes!r}."
        ) from None
    from bench.run import main
    from index.stores import check_store

    settings = load_settings(config_file=args.config, corpus_dir=args.corpus)
    store = check_store(args.store or settings.store)
    return main(settings, args.qa, args.quick, args.json, sizes, args.work, args.reuse, store)
