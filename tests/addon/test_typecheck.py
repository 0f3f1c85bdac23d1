"""The add-on's UI code type-checks against fake-bpy-module (Blender's API as stubs).

The stubs live in their own venv, ``.venv-typecheck`` (see REQUIREMENTS.md): installed next to
the real bpy wheel they would shadow it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

TYPECHECK_PYTHON = REPO / ".venv-typecheck" / "bin" / "python"
#: Whether mypy and fake-bpy-module (stubs only: not importable) are installed.
PROBE = (
    "import importlib.metadata as m, mypy; "
    "assert any((d.metadata['Name'] or '').startswith('fake-bpy-module') "
    "for d in m.distributions())"
)
UI_TARGETS = [
    "-p",
    "farmhand.operators",
    "-p",
    "farmhand.panels",
    "-m",
    "farmhand.preferences",
    "-m",
    "farmhand.farm_state",
    "-m",
    "farmhand",
]


def typecheck_venv_problem() -> str:
    if not TYPECHECK_PYTHON.exists():
        return f"no {TYPECHECK_PYTHON.relative_to(REPO)}: see tests/addon/REQUIREMENTS.md"
    probe = subprocess.run(
        [str(TYPECHECK_PYTHON), "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        return "the typecheck venv lacks mypy or fake-bpy-module: see tests/addon/REQUIREMENTS.md"
    return ""


def test_ui_code_typechecks_against_fake_bpy_module(tmp_path: Path) -> None:
    problem = typecheck_venv_problem()
    if problem:
        pytest.skip(problem)
    # Inside Blender the repository root is the package "farmhand" (bl_ext.<repo>.farmhand):
    # check it under that name, so the add-on's relative imports resolve as they do there.
    (tmp_path / "farmhand").symlink_to(REPO, target_is_directory=True)
    result = subprocess.run(
        [
            str(TYPECHECK_PYTHON),
            "-m",
            "mypy",
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--follow-imports=silent",
            *UI_TARGETS,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"MYPYPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
