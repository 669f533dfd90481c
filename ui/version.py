"""The version people see (``policyqa --version``, ``/api/health``, ``/docs``).

It is written once, as ``version`` in ``pyproject.toml``, and read here from the installed
package's metadata; ``CHANGELOG.md`` says what each version changed.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "policyqa"


def app_version() -> str:
    """The installed policyqa's version, or "unknown" when the code runs without being installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"
