"""The version is written once, in pyproject.toml; the command line and the API show that one."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from tests.conftest import REPO
from tests.ui.test_api_headers import _client
from ui.version import app_version


def _pyproject_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def test_the_installed_version_is_pyprojects():
    assert app_version() == _pyproject_version()


def test_policyqa_version_prints_it():
    done = subprocess.run([sys.executable, "-m", "ui.cli", "--version"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0
    assert done.stdout.strip() == f"policyqa {_pyproject_version()}"


def test_health_and_the_api_docs_carry_it():
    client = _client()
    assert client.get("/api/health").json()["version"] == _pyproject_version()
    assert client.get("/openapi.json").json()["info"]["version"] == _pyproject_version()


def test_the_changelog_has_an_entry_for_it():
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, flags=re.MULTILINE)
    assert versions and versions[0] == _pyproject_version(), "the newest released entry is pyproject's version"
