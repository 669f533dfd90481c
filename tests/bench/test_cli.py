"""``policyqa bench``: reached through the ``policyqa.commands`` entry point, clear when its extra is missing."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO, empty_config

# The child process runs the real CLI; an entry of None in sys.modules makes Python refuse
# the import exactly as when langchain-community is not installed (a venv without the extra).
WITHOUT_LANGCHAIN = """
import sys
sys.modules["langchain_community"] = None
from ui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _policyqa(*args: str, without_langchain: bool = False) -> subprocess.CompletedProcess:
    command = ["-c", WITHOUT_LANGCHAIN] if without_langchain else ["-m", "ui.cli"]
    return subprocess.run([sys.executable, *command, *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_bench_is_a_subcommand_of_policyqa_with_its_options(tmp_path):
    done = _policyqa("--config", empty_config(tmp_path), "bench", "--help")
    assert done.returncode == 0, done.stderr
    for option in ("--qa", "--json", "--quick", "--corpus", "--sizes", "--work", "--reuse"):
        assert option in done.stdout
    listed = _policyqa("--help")
    assert "bench" in listed.stdout and "benchmark against the LangChain baseline" in listed.stdout


def test_without_the_bench_extra_it_says_how_to_install_it(tmp_path):
    done = _policyqa("--config", empty_config(tmp_path), "bench", "--quick", without_langchain=True)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "基准测试需要 bench 附加依赖" in done.stderr
    assert "pip install '.[bench]'" in done.stderr
    assert done.stdout == ""


def test_a_missing_question_set_and_bad_sizes_are_clear_errors(tmp_path):
    config = empty_config(tmp_path)
    missing = _policyqa("--config", config, "bench", "--qa", str(tmp_path / "none.jsonl"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert f"question set {tmp_path / 'none.jsonl'} does not exist" in missing.stderr
    sizes = _policyqa("--config", config, "bench", "--sizes", "10k")
    assert sizes.returncode == 1 and "Traceback" not in sizes.stderr
    assert "--sizes 应为以逗号分隔的整数" in sizes.stderr and "'10k'" in sizes.stderr


def test_no_product_module_imports_the_benchmark():
    """ui/, qa/ and index/ never import bench/, at module level or inside a function."""
    found = []
    for package in ("ui", "qa", "index"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                found += [f"{path.relative_to(REPO)}: {n}" for n in names if n == "bench" or n.startswith("bench.")]
    assert found == []
