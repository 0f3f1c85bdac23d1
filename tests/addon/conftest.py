"""Fixtures of the add-on tests: the extension zip built by Blender's own builder, a manager
for a whole test module, and bpy sessions in subprocesses (pytest's process never imports bpy).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from manager.config import Settings
from tests.conftest import REPO, Manager, free_port, start_manager, stop_manager
from tests.spec_check import SpecChecker

SESSION_SCRIPT = Path(__file__).with_name("blender_session.py")
#: A bpy session installs the add-on and plays a module's scenarios; this is plenty.
BLENDER_TIMEOUT_S = 150


def blender_ext_script() -> Path | None:
    """Blender's extension command line, shipped inside the bpy wheel (found without importing)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        return None
    found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    return found[-1] if found else None


def blender_ext(*args: str) -> subprocess.CompletedProcess[str]:
    script = blender_ext_script()
    assert script is not None
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if blender_ext_script() is None:
        pytest.skip("the bpy wheel is not installed: pip install 'bpy==5.0.*'")
    out = tmp_path_factory.mktemp("extension")
    built = blender_ext("build", "--source-dir", str(REPO), "--output-dir", str(out))
    assert built.returncode == 0, built.stdout + built.stderr
    (zip_path,) = out.glob("farmhand-*.zip")
    return zip_path


@pytest.fixture(scope="module")
def module_manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    """One manager for a test module (a bpy session per module talks to it)."""
    root = tmp_path_factory.mktemp("manager")
    job_types = root / "job-types"
    job_types.mkdir()
    settings = Settings(
        job_types=job_types,
        data_dir=root / "farm-data",
        database=f"sqlite:///{root / 'farm-data' / 'farmhand.sqlite'}",
        host="127.0.0.1",
        port=free_port(),
    )
    checker = SpecChecker(REPO / "manager" / "api" / "openapi" / "flamenco-v3.9.yaml", "/api/v3/")
    running = start_manager(settings, checker)
    yield running
    stop_manager(running)


def run_blender_session(
    extension_zip: Path, workdir: Path, scenarios: list[tuple[str, dict[str, Any]]], **spec: Any
) -> dict[str, Any]:
    """Install and enable the extension in a fresh bpy process, play the scenarios in order."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / "spec.json"
    out = workdir / "results.json"
    spec.update(zip=str(extension_zip), out=str(out), scenarios=scenarios)
    spec.setdefault("down_url", f"http://127.0.0.1:{free_port()}")
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ)
    # Blender's user folders (extensions, config) inside the test's temp folder.
    env["BLENDER_USER_RESOURCES"] = str(workdir / "blender-user")
    env["PYTHONPATH"] = ""
    env["XDG_DATA_HOME"] = str(workdir / "data")  # worker mode keeps its credentials here
    proc = subprocess.run(
        [sys.executable, str(SESSION_SCRIPT), str(spec_path)],
        capture_output=True,
        text=True,
        timeout=BLENDER_TIMEOUT_S,
        env=env,
        cwd=workdir,
    )
    if proc.returncode != 0 or not out.exists():
        raise AssertionError(f"bpy session failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    results: dict[str, Any] = json.loads(out.read_text())
    for name, result in results.items():
        if "exception" in result:
            raise AssertionError(f"scenario {name} raised:\n{result['exception']}")
    return results
