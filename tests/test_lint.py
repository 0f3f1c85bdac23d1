"""The code stays ruff-clean and type-checks with mypy, as the project's habits ask."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def test_ruff_finds_nothing() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_manager_client_and_worker() -> None:
    result = run("mypy", "manager", "client", "worker_mode")
    assert result.returncode == 0, result.stdout + result.stderr
